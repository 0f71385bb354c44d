"""Which namespaces and resources a backup takes, and what the namespaced items pull in."""

from __future__ import annotations

import pytest

from backupd.backup.dependencies import Dependencies
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
) -> ApiResource:
    return ApiResource(
        group, "v1", resource, kind or resource.rstrip("s").title(), namespaced, verbs
    )


DEPLOYMENTS = res("deployments", "apps", "Deployment")
CONFIGMAPS = res("configmaps", kind="ConfigMap")
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


def test_an_invalid_namespace_name_is_refused() -> None:
    with pytest.raises(UserInputError, match="invalid namespace 'Shop_1'"):
        NamespaceFilter(("Shop_1",))


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("deployments", {DEPLOYMENTS}),
        ("deployments.apps", {DEPLOYMENTS}),
        ("deployment", {DEPLOYMENTS}),
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


def pvc(volume: str, sc: str) -> dict[str, object]:
    return {"kind": "PersistentVolumeClaim", "spec": {"volumeName": volume, "storageClassName": sc}}


def test_dependencies_collected_from_namespaced_items() -> None:
    deps = Dependencies()
    deps.note(pvc("pv-1", "fast"), group="", resource="persistentvolumeclaims", crd_groups=set())
    deps.note(
        {"kind": "RoleBinding", "roleRef": {"kind": "ClusterRole", "name": "view"}},
        group="rbac.authorization.k8s.io",
        resource="rolebindings",
        crd_groups=set(),
    )
    deps.note(
        {"kind": "RoleBinding", "roleRef": {"kind": "Role", "name": "local"}},
        group="rbac.authorization.k8s.io",
        resource="rolebindings",
        crd_groups=set(),
    )
    deps.note(
        {
            "kind": "CronJob",
            "spec": {
                "jobTemplate": {"spec": {"template": {"spec": {"priorityClassName": "high"}}}}
            },
        },
        group="batch",
        resource="cronjobs",
        crd_groups=set(),
    )
    deps.note(
        {
            "kind": "StatefulSet",
            "spec": {"volumeClaimTemplates": [{"spec": {"storageClassName": "slow"}}]},
        },
        group="apps",
        resource="statefulsets",
        crd_groups=set(),
    )
    deps.note(
        {"kind": "Widget"},
        group="shop.example.com",
        resource="widgets",
        crd_groups={"shop.example.com"},
    )
    deps.note_pv({"spec": {"storageClassName": "archive"}})
    assert deps.by_resource() == {
        "persistentvolumes": {"pv-1"},
        "storageclasses.storage.k8s.io": {"fast", "slow", "archive"},
        "customresourcedefinitions.apiextensions.k8s.io": {"widgets.shop.example.com"},
        "clusterroles.rbac.authorization.k8s.io": {"view"},
        "priorityclasses.scheduling.k8s.io": {"high"},
    }
