"""The restore planner and the reverse rule: a ClusterRoleBinding in the backup that
grants a restored ServiceAccount comes along (auto), with its ClusterRole, and says why."""

from __future__ import annotations

from typing import Any

import pytest

from backupd.restore.planner import Plan, plan, select_entries
from tests.unit.actions.builders import JSON, deployment, entry, namespace, obj, spec

RBAC = "rbac.authorization.k8s.io"


def rbac(kind: str, name: str, ns: str | None = None, **fields: Any) -> JSON:
    o = obj(kind, name, ns, **fields)
    o["apiVersion"] = f"{RBAC}/v1"
    return o


def granting(name: str, role: str, *accounts: tuple[str, str]) -> JSON:
    return rbac(
        "ClusterRoleBinding",
        name,
        roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        subjects=[{"kind": "ServiceAccount", "namespace": ns, "name": n} for ns, n in accounts],
    )


def backup() -> list[tuple[Any, JSON]]:
    """Two namespaces, each with an account; bindings granting them, one another's, none."""
    objects = [
        namespace("shop"),
        namespace("tools"),
        obj("ServiceAccount", "app", "shop"),
        obj("ServiceAccount", "ci", "tools"),
        deployment("web"),
        granting("shop-reader", "reader", ("shop", "app")),
        granting("ci-admin", "cluster-admin", ("tools", "ci")),
        granting("both", "reader", ("tools", "ci"), ("shop", "app")),
        granting("ghost", "reader", ("shop", "gone")),
        rbac("ClusterRole", "reader", rules=[{"verbs": ["get"], "resources": ["pods"]}]),
        rbac("ClusterRole", "cluster-admin", rules=[{"verbs": ["*"], "resources": ["*"]}]),
    ]
    return [(entry(o, "clusterroles" if o["kind"] == "ClusterRole" else None), o) for o in objects]


def make_plan(**kwargs: Any) -> Plan:
    s = spec(**kwargs)
    objects = backup()
    selection = select_entries([e for e, _ in objects], s)
    wanted = {e.key for e in selection.to_read()}
    return plan([(e, o) for e, o in objects if e.key in wanted], selection, s)


def cluster_scoped(p: Plan) -> dict[str, str | None]:
    return {
        f"{i.ref.kind} {i.ref.name}": i.reason
        for i in p.to_apply
        if i.ref.namespace is None and i.ref.kind != "Namespace"
    }


@pytest.mark.parametrize(
    ("namespaces", "expected"),
    [
        (
            ["shop"],
            {
                "ClusterRoleBinding shop-reader": "grants serviceaccount shop/app",
                "ClusterRoleBinding both": "grants serviceaccount shop/app",
                "ClusterRole reader": "used by clusterrolebinding shop-reader and 1 more",
            },
        ),
        (
            ["tools"],
            {
                "ClusterRoleBinding ci-admin": "grants serviceaccount tools/ci",
                "ClusterRoleBinding both": "grants serviceaccount tools/ci",
                "ClusterRole cluster-admin": "used by clusterrolebinding ci-admin",
                "ClusterRole reader": "used by clusterrolebinding both",
            },
        ),
    ],
    ids=["shop", "tools"],
)
def test_restoring_a_namespace_brings_the_bindings_that_grant_its_accounts_and_their_roles(
    namespaces: list[str], expected: dict[str, str]
) -> None:
    assert cluster_scoped(make_plan(included_namespaces=namespaces)) == expected


def test_a_binding_is_not_brought_when_its_account_is_not_restored() -> None:
    p = make_plan(included_namespaces=["shop"], excluded_resources=["serviceaccounts"])
    assert cluster_scoped(p) == {}


def test_a_binding_the_resource_filters_leave_out_stays_out() -> None:
    p = make_plan(included_namespaces=["shop"], excluded_resources=["clusterrolebindings"])
    assert cluster_scoped(p) == {}


def test_no_cluster_resources_means_no_bindings() -> None:
    p = make_plan(included_namespaces=["shop"], include_cluster_resources="false")
    assert cluster_scoped(p) == {}
