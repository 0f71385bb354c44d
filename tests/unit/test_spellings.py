"""Resource names as kubectl accepts them (backupd.kinds.spellings)."""

from __future__ import annotations

import pytest

from backupd.kinds.spellings import TypeFilter, TypeName, is_pattern, with_spellings

DEPLOYMENTS = TypeName("apps", "deployments", "Deployment", "deployment", ("deploy",))
CONFIGMAPS = TypeName("", "configmaps", "ConfigMap", "configmap", ("cm",))
WIDGETS = TypeName("example.k8s.io", "widgets", "Widget")
EVENTS = TypeName("", "events", "Event", "event", ("ev",))
NEW_EVENTS = TypeName("events.k8s.io", "events", "Event", "event", ("ev",))


@pytest.mark.parametrize(
    "spelling",
    [
        "deployments",
        "deployment",
        "deploy",
        "Deployment",
        "DEPLOYMENTS",
        "deployments.apps",
        "deployment.apps",
        "deploy.apps",
        "Deployment.apps",
        "deployments.v1.apps",
        "*",
        "*.apps",
        "deploy*",
    ],
)
def test_every_kubectl_spelling_names_the_type(spelling: str) -> None:
    assert DEPLOYMENTS.matches(spelling)


@pytest.mark.parametrize(
    "spelling", ["deployments.batch", "deployments.v1.batch", "deploys", "dep", "configmaps"]
)
def test_other_spellings_do_not(spelling: str) -> None:
    assert not DEPLOYMENTS.matches(spelling)


def test_core_types_and_groups_with_dots() -> None:
    assert CONFIGMAPS.matches("cm") and CONFIGMAPS.matches("configmaps.v1")
    assert WIDGETS.matches("widgets.example.k8s.io") and WIDGETS.matches("widget")
    assert WIDGETS.matches("*.example.k8s.io") and not WIDGETS.matches("widgets.k8s.io")


def test_an_unqualified_name_names_every_group_that_has_it() -> None:
    assert EVENTS.matches("events") and NEW_EVENTS.matches("events")
    assert not EVENTS.matches("events.events.k8s.io") and NEW_EVENTS.matches("ev.events.k8s.io")


def test_short_names_come_from_what_the_target_serves() -> None:
    from_index = [TypeName("apps", "deployments", "Deployment"), TypeName("", "pods", "Pod")]
    enriched = with_spellings(from_index, [DEPLOYMENTS])
    assert enriched[0].matches("deploy") and enriched[0].singular == "deployment"
    assert enriched[1] == from_index[1]
    assert not from_index[0].matches("deploy")


def test_a_filter_excludes_over_includes_and_names_its_typos() -> None:
    f = TypeFilter(("deploy", "cm", "gizmos"), ("configmaps",))
    assert f.selects(DEPLOYMENTS) and not f.selects(CONFIGMAPS) and f.excludes(WIDGETS)
    assert f.unknown([DEPLOYMENTS, CONFIGMAPS]) == ["gizmos"]
    assert f.unmatched([DEPLOYMENTS]) == ["cm", "gizmos"]


def test_wildcards_are_patterns() -> None:
    assert is_pattern("shop-*") and is_pattern("a?") and not is_pattern("shop")
