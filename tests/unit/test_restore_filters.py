import pytest

from backupd.errors import UserInputError
from backupd.kinds.spellings import TypeFilter, TypeName
from backupd.restore.filters import (
    ItemPattern,
    namespace_matches,
    parse_selector,
    refuse_unmatched,
    resource_matches,
)

DEPLOYMENTS = TypeName("apps", "deployments", "Deployment", "deployment", ("deploy",))
CONFIGMAPS = TypeName("", "configmaps", "ConfigMap", "configmap", ("cm",))
EVENTS = TypeName("", "events", "Event", "event", ("ev",))


@pytest.mark.parametrize(
    "pattern", ["*", "deployments", "deployment", "deploy", "deployments.apps", "Deployment"]
)
def test_a_resource_type_has_many_spellings(pattern: str) -> None:
    assert resource_matches([pattern], DEPLOYMENTS)


def test_other_types_do_not_match() -> None:
    assert not resource_matches(["configmaps"], DEPLOYMENTS)


def refuse(
    namespaces: list[str] | None = None,
    included: tuple[str, ...] = ("*",),
    excluded: tuple[str, ...] = (),
) -> None:
    refuse_unmatched(
        included_namespaces=namespaces or ["*"],
        resources=TypeFilter(included, excluded),
        namespaces={"shop", "shop-eu"},
        types=[DEPLOYMENTS, CONFIGMAPS],
        served=[DEPLOYMENTS, CONFIGMAPS, EVENTS],
    )


@pytest.mark.parametrize(
    ("namespaces", "included", "excluded", "message"),
    [
        (["shpo"], ("*",), (), "namespace 'shpo' matches nothing in the backup"),
        (["x-*"], ("*",), (), "namespace 'x-\\*' matches nothing"),
        (None, ("events",), (), "resource 'events' matches nothing in the backup"),
        (None, ("deploymnets",), (), "unknown resource 'deploymnets'"),
        (None, ("*",), ("secrts",), "unknown resource 'secrts'"),
    ],
)
def test_filters_that_match_nothing_are_refused_by_name(
    namespaces: list[str] | None, included: tuple[str, ...], excluded: tuple[str, ...], message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        refuse(namespaces, included, excluded)


def test_filters_that_match_something_pass() -> None:
    refuse(["shop-*", "shop"], ("deploy", "cm"), ("events", "*.example.com"))


def test_namespace_globs() -> None:
    assert namespace_matches(["shop-*"], "shop-eu")
    assert not namespace_matches(["shop-*"], "shopping")


def test_item_pattern() -> None:
    p = ItemPattern.parse("deploy/web")
    assert p.matches(DEPLOYMENTS, "web")
    assert not p.matches(DEPLOYMENTS, "api") and not p.matches(CONFIGMAPS, "web")
    with pytest.raises(UserInputError, match="<resource>/<name>"):
        ItemPattern.parse("web")


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "api"}, False),
        ("app!=web", {}, True),
        ("tier in (a, b)", {"tier": "b"}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("app", {"app": ""}, True),
        ("!legacy", {"legacy": "1"}, False),
        ("app=web,tier in (db),!legacy", {"app": "web", "tier": "db"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(selector)(labels) is expected


def test_bad_selector_is_a_one_line_error() -> None:
    with pytest.raises(UserInputError, match="invalid label selector"):
        parse_selector("app=web,,(")
