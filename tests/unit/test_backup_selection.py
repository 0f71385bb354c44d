"""Which namespaces and resources a backup takes, and what the namespaced items pull in."""

from __future__ import annotations

import pytest

from backupd.backup.selection import (
    NamespaceFilter,
    ResourceFilter,
    backupable,
    combined_selector,
    split_csv,
    validate_selector,
)
from backupd.cluster.discovery import ApiResource
from backupd.errors import UserInputError

ALL_VERBS = frozenset({"list", "get", "create", "delete", "watch"})


def res(
    resource: str,
    group: str = "",
    kind: str = "",
    namespaced: bool = True,
    verbs: frozenset[str] = ALL_VERBS,
    short_names: tuple[str, ...] = (),
    singular: str = "",
) -> ApiResource:
    return ApiResource(
        group,
        "v1",
        resource,
        kind or resource.rstrip("s").title(),
        namespaced,
        verbs,
        short_names,
        singular,
    )


DEPLOYMENTS = res("deployments", "apps", "Deployment", short_names=("deploy",))
CONFIGMAPS = res("configmaps", kind="ConfigMap", short_names=("cm",), singular="configmap")
WIDGETS = res("widgets", "shop.example.com", "Widget")
EVENTS = res("events", kind="Event")


def test_namespace_wildcards_and_exclusions() -> None:
    f = NamespaceFilter(("shop-*", "payments"), ("shop-test",))
    assert f.matches("shop-eu") and f.matches("payments")
    assert not f.matches("shop-test") and not f.matches("kube-system")
    assert f.literal_names is None
    assert NamespaceFilter(("a", "b")).literal_names == ["a", "b"]


def test_missing_literal_namespaces_are_named() -> None:
    assert NamespaceFilter(("shop", "gone", "x-*")).missing({"shop"}) == ["gone"]


def test_a_namespace_glob_that_matches_nothing_is_named() -> None:
    f = NamespaceFilter(("shop-*", "pay*", "*", "gone"))
    assert f.empty_globs({"payments", "default"}) == ["shop-*"]


def test_an_invalid_namespace_name_is_refused() -> None:
    with pytest.raises(UserInputError, match="invalid namespace 'Shop_1'"):
        NamespaceFilter(("Shop_1",))


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("deployments", {DEPLOYMENTS}),
        ("deployments.apps", {DEPLOYMENTS}),
        ("deployment", {DEPLOYMENTS}),
        ("deploy", {DEPLOYMENTS}),
        ("Deployment", {DEPLOYMENTS}),
        ("deployments.v1.apps", {DEPLOYMENTS}),
        ("cm", {CONFIGMAPS}),
        ("*.example.com", {WIDGETS}),
        ("configmaps", {CONFIGMAPS}),
        ("*", {DEPLOYMENTS, CONFIGMAPS, WIDGETS}),
        ("deployments.batch", set()),
    ],
)
def test_resource_patterns(pattern: str, matches: set[ApiResource]) -> None:
    f = ResourceFilter((pattern,))
    assert {r for r in (DEPLOYMENTS, CONFIGMAPS, WIDGETS) if f.matches(r)} == matches


def test_exclusions_win_and_unknown_patterns_are_reported() -> None:
    f = ResourceFilter(("*",), ("*.example.com",))
    assert f.matches(DEPLOYMENTS) and not f.matches(WIDGETS)
    assert ResourceFilter(("gizmos", "configmaps")).unknown([CONFIGMAPS]) == ["gizmos"]
    assert ResourceFilter(("cm",), ("deploy",)).unknown([CONFIGMAPS, DEPLOYMENTS]) == []


def test_never_backed_up_resources_are_skipped_with_reasons() -> None:
    readonly = res("tokenreviews", "authentication.k8s.io", verbs=frozenset({"create"}))
    keep, skips = backupable([DEPLOYMENTS, EVENTS, readonly])
    assert keep == [DEPLOYMENTS]
    reasons = {s.resource: s.reason for s in skips}
    assert "transient" in reasons["events"]
    assert "no list verb" in reasons["tokenreviews.authentication.k8s.io"]


def test_selector_gets_the_exclude_label_and_bad_ones_are_refused() -> None:
    assert combined_selector("app=web", "backupd.io/exclude") == "app=web,backupd.io/exclude!=true"
    assert combined_selector(None, "backupd.io/exclude") == "backupd.io/exclude!=true"
    assert validate_selector("app in (a,b),tier!=db,!legacy") == "app in (a,b),tier!=db,!legacy"
    for bad in ("app in (a", "=x", "a b"):
        with pytest.raises(UserInputError, match="invalid label selector"):
            validate_selector(bad)


def test_split_csv() -> None:
    assert split_csv(["a,b", " c ", ""]) == ["a", "b", "c"]
