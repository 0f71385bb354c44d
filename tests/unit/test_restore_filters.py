import pytest

from backupd.errors import UserInputError
from backupd.restore.filters import ItemPattern, namespace_matches, parse_selector, resource_matches


@pytest.mark.parametrize(
    "pattern", ["*", "deployments", "deployment", "deployments.apps", "Deployment"]
)
def test_a_resource_type_has_many_spellings(pattern: str) -> None:
    assert resource_matches([pattern], "apps", "deployments", "Deployment")


def test_other_types_do_not_match() -> None:
    assert not resource_matches(["configmaps"], "apps", "deployments", "Deployment")


def test_namespace_globs() -> None:
    assert namespace_matches(["shop-*"], "shop-eu")
    assert not namespace_matches(["shop-*"], "shopping")


def test_item_pattern() -> None:
    p = ItemPattern.parse("deployment/web")
    assert p.matches("apps", "deployments", "Deployment", "web")
    assert not p.matches("apps", "deployments", "Deployment", "api")
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
