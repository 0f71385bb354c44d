"""What the privileged-restore guard calls powerful (backupd.kinds.privilege): one table
per rule, each row an object and the reason a user sees (or none)."""

from __future__ import annotations

from typing import Any

import pytest

from backupd.kinds.privilege import reasons, role_of
from backupd.kinds.references import POD_SPEC_PATHS
from backupd.restore.guard import listing, mark_privileged
from backupd.restore.planner import ItemRef, PlannedItem

JSON = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
ADMISSION = "admissionregistration.k8s.io"


# -- builders ---------------------------------------------------------------------
def rule(verbs: list[str], resources: list[str] | None = None, **extra: Any) -> JSON:
    out: JSON = {"apiGroups": [""], "verbs": verbs, **extra}
    if resources is not None:
        out["resources"] = resources
    return out


def role(kind: str, name: str, *rules: JSON, ns: str | None = "shop") -> JSON:
    meta: JSON = {"name": name}
    if kind == "Role" and ns:
        meta["namespace"] = ns
    return {"kind": kind, "metadata": meta, "rules": list(rules)}


def binding(kind: str, role_kind: str, role_name: str, ns: str = "shop") -> JSON:
    meta: JSON = {"name": "b"}
    if kind == "RoleBinding":
        meta["namespace"] = ns
    return {
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": ns}],
    }


def container(name: str = "app", **security: Any) -> JSON:
    c: JSON = {"name": name, "image": "registry.invalid/app:1"}
    if security:
        c["securityContext"] = security
    return c


def pod_spec(*containers: JSON, **fields: Any) -> JSON:
    return {"containers": list(containers) or [container()], **fields}


def workload(group: str, kind: str, spec: JSON) -> JSON:
    body: Any = spec
    for key in reversed(POD_SPEC_PATHS[(group, kind)]):
        body = {key: body}
    return {"kind": kind, "metadata": {"name": "w", "namespace": "shop"}, **body}


# -- Roles and ClusterRoles ----------------------------------------------------------
ROLE_CASES = [
    ("read-only", [rule(["get", "list"], ["configmaps"])], []),
    ("star verbs", [rule(["*"], ["secrets"])], ["grants every verb (*) on secrets"]),
    (
        "star resources",
        [rule(["get"], ["*"])],
        ["grants get on every resource (*)"],
    ),
    (
        "star subresources",
        [rule(["update"], ["*/scale"])],
        ["grants update on every resource (*/scale)"],
    ),
    (
        "cluster-admin shape",
        [rule(["*"], ["*"]), rule(["*"], nonResourceURLs=["*"])],
        [
            "grants every verb (*) on *",
            "grants * on every resource (*)",
        ],
    ),
    ("escalate", [rule(["escalate"], ["clusterroles"])], ["grants escalate on clusterroles"]),
    ("bind", [rule(["bind"], ["roles"])], ["grants bind on roles"]),
    (
        "impersonate",
        [rule(["impersonate"], ["users", "groups"])],
        ["grants impersonate on groups,users"],
    ),
    ("no rules", [], []),
    ("garbage rules", ["not-a-rule", {"verbs": "get"}], []),
]


@pytest.mark.parametrize("kind", ["Role", "ClusterRole"])
@pytest.mark.parametrize(("case", "rules", "expected"), ROLE_CASES, ids=[c[0] for c in ROLE_CASES])
def test_a_role_is_privileged_when_its_rules_grant_power(
    kind: str, case: str, rules: list[Any], expected: list[str]
) -> None:
    obj = {"kind": kind, "metadata": {"name": "r"}, "rules": rules}
    assert reasons(obj, RBAC, kind) == expected


# -- bindings -----------------------------------------------------------------------
POWERFUL = role("ClusterRole", "ops", rule(["impersonate"], ["serviceaccounts"]))
LOCAL_STAR = role("Role", "all-in-shop", rule(["*"], ["*"]))
HARMLESS = role("ClusterRole", "reader", rule(["get"], ["pods"]))
ROLES = {
    ("ClusterRole", None, "ops"): POWERFUL["rules"],
    ("Role", "shop", "all-in-shop"): LOCAL_STAR["rules"],
    ("ClusterRole", None, "reader"): HARMLESS["rules"],
}
BINDING_CASES = [
    ("ClusterRoleBinding", "ClusterRole", "cluster-admin", ["binds ClusterRole cluster-admin"]),
    ("RoleBinding", "ClusterRole", "cluster-admin", ["binds ClusterRole cluster-admin"]),
    (
        "ClusterRoleBinding",
        "ClusterRole",
        "ops",
        ["binds ClusterRole ops, which grants impersonate on serviceaccounts"],
    ),
    (
        "RoleBinding",
        "Role",
        "all-in-shop",
        ["binds Role all-in-shop, which grants every verb (*) on *; * on every resource (*)"],
    ),
    ("ClusterRoleBinding", "ClusterRole", "reader", []),
    ("RoleBinding", "ClusterRole", "unknown-role", []),
    ("RoleBinding", "Role", "cluster-admin", []),  # a Role of that name is the namespace's own
]


@pytest.mark.parametrize(("kind", "role_kind", "role_name", "expected"), BINDING_CASES)
def test_a_binding_is_privileged_when_it_binds_cluster_admin_or_a_powerful_role(
    kind: str, role_kind: str, role_name: str, expected: list[str]
) -> None:
    assert reasons(binding(kind, role_kind, role_name), RBAC, kind, roles=ROLES) == expected


def test_a_role_binding_looks_up_its_role_in_its_own_namespace() -> None:
    other_ns = binding("RoleBinding", "Role", "all-in-shop", ns="dev")
    assert role_of(other_ns) == ("Role", "dev", "all-in-shop")
    assert reasons(other_ns, RBAC, "RoleBinding", roles=ROLES) == []


def test_a_binding_without_a_role_ref_is_not_privileged() -> None:
    obj = {"kind": "ClusterRoleBinding", "metadata": {"name": "b"}}
    assert reasons(obj, RBAC, "ClusterRoleBinding", roles=ROLES) == []


# -- admission webhooks ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "MutatingWebhookConfiguration",
            ["a mutating admission webhook configuration (a.example.com,b.example.com)"],
        ),
        (
            "ValidatingWebhookConfiguration",
            ["a validating admission webhook configuration (a.example.com,b.example.com)"],
        ),
    ],
)
def test_every_admission_webhook_configuration_is_privileged(
    kind: str, expected: list[str]
) -> None:
    obj = {
        "kind": kind,
        "metadata": {"name": "hooks"},
        "webhooks": [{"name": "b.example.com"}, {"name": "a.example.com"}],
    }
    assert reasons(obj, ADMISSION, kind) == expected


def test_a_webhook_kind_of_another_group_is_not_an_admission_webhook() -> None:
    obj = {"kind": "MutatingWebhookConfiguration", "metadata": {"name": "x"}, "webhooks": []}
    assert reasons(obj, "example.com", "MutatingWebhookConfiguration") == []


# -- pods and pod templates --------------------------------------------------------------
POD_CASES = [
    ("plain", pod_spec(), []),
    ("privileged", pod_spec(container(privileged=True)), ["privileged container app"]),
    ("privileged false", pod_spec(container(privileged=False)), []),
    (
        "privileged init container",
        pod_spec(initContainers=[container("init", privileged=True)]),
        ["privileged container init"],
    ),
    (
        "privileged ephemeral container",
        pod_spec(ephemeralContainers=[container("debug", privileged=True)]),
        ["privileged container debug"],
    ),
    (
        "SYS_ADMIN",
        pod_spec(container(capabilities={"add": ["SYS_ADMIN"]})),
        ["container app adds capabilities SYS_ADMIN"],
    ),
    (
        "CAP_ prefix and lower case",
        pod_spec(container(capabilities={"add": ["cap_net_admin", "CHOWN"]})),
        ["container app adds capabilities cap_net_admin"],
    ),
    (
        "ALL",
        pod_spec(container(capabilities={"add": ["ALL"]})),
        ["container app adds capabilities ALL"],
    ),
    ("baseline capabilities", pod_spec(container(capabilities={"add": ["NET_BIND_SERVICE"]})), []),
    ("dropped capabilities", pod_spec(container(capabilities={"drop": ["ALL"]})), []),
    ("hostPID", pod_spec(hostPID=True), ["hostPID: true"]),
    ("hostIPC", pod_spec(hostIPC=True), ["hostIPC: true"]),
    ("hostNetwork", pod_spec(hostNetwork=True), ["hostNetwork: true"]),
    ("hostNetwork false", pod_spec(hostNetwork=False), []),
    (
        "hostPath",
        pod_spec(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
        ["hostPath volume root (/)"],
    ),
    ("emptyDir", pod_spec(volumes=[{"name": "tmp", "emptyDir": {}}]), []),
    (
        "windows hostProcess",
        pod_spec(securityContext={"windowsOptions": {"hostProcess": True}}),
        ["a Windows hostProcess pod"],
    ),
    (
        "everything",
        pod_spec(
            container(privileged=True),
            hostPID=True,
            volumes=[{"name": "root", "hostPath": {"path": "/"}}],
        ),
        ["hostPID: true", "hostPath volume root (/)", "privileged container app"],
    ),
]


@pytest.mark.parametrize(("group", "kind"), sorted(POD_SPEC_PATHS))
@pytest.mark.parametrize(("case", "spec", "expected"), POD_CASES, ids=[c[0] for c in POD_CASES])
def test_a_pod_or_pod_template_is_privileged_when_it_reaches_into_the_node(
    group: str, kind: str, case: str, spec: JSON, expected: list[str]
) -> None:
    assert reasons(workload(group, kind, spec), group, kind) == expected


@pytest.mark.parametrize(
    ("group", "kind", "obj"),
    [
        ("", "ConfigMap", {"kind": "ConfigMap", "data": {"hostNetwork": "true"}}),
        ("", "Service", {"kind": "Service", "spec": {"hostNetwork": True}}),
        (
            "",
            "PersistentVolume",
            {"kind": "PersistentVolume", "spec": {"hostPath": {"path": "/tmp/x"}}},
        ),
        ("example.com", "Pod", {"kind": "Pod", "spec": {"hostPID": True}}),
    ],
)
def test_other_kinds_are_not_privileged(group: str, kind: str, obj: JSON) -> None:
    assert reasons(obj, group, kind) == []


# -- the plan's marks (restore.guard.mark_privileged) ---------------------------------------
def planned(obj: JSON, group: str, resource: str, ns: str | None = "shop") -> PlannedItem:
    ref = ItemRef(group, "v1", obj["kind"], resource, ns, obj["metadata"]["name"])
    return PlannedItem(ref, ref, 0, obj)


def test_a_plan_marks_a_binding_to_a_role_it_restores_and_says_why_in_the_notes() -> None:
    items = [
        planned(LOCAL_STAR, RBAC, "roles"),
        planned(binding("RoleBinding", "Role", "all-in-shop"), RBAC, "rolebindings"),
        planned(binding("RoleBinding", "ClusterRole", "reader"), RBAC, "rolebindings"),
    ]
    mark_privileged(items)
    assert [i.privileged for i in items] == [
        ["grants every verb (*) on *", "grants * on every resource (*)"],
        ["binds Role all-in-shop, which grants every verb (*) on *; * on every resource (*)"],
        [],
    ]
    assert items[1].notes == [
        "privileged: binds Role all-in-shop, which grants every verb (*) on *; "
        "* on every resource (*)"
    ]


def test_a_binding_is_judged_by_the_live_role_too_and_marking_twice_notes_once() -> None:
    bound = planned(binding("ClusterRoleBinding", "ClusterRole", "reader"), RBAC, "x", None)
    items = [planned(HARMLESS, RBAC, "clusterroles", None), bound]
    live = {("ClusterRole", None, "reader"): [rule(["bind"], ["clusterroles"])]}
    mark_privileged(items, live)
    mark_privileged(items, live)
    assert bound.privileged == [
        "binds ClusterRole reader, which grants bind on clusterroles (as it is in the target)"
    ]
    assert len(bound.notes) == 1


def test_a_skipped_item_is_not_marked() -> None:
    item = planned(workload("", "Pod", pod_spec(hostNetwork=True)), "", "pods")
    item.obj = None
    mark_privileged([item])
    assert item.privileged == []


def test_a_refusal_names_ten_items_and_counts_the_rest() -> None:
    pods = [planned(workload("", "Pod", pod_spec(hostPID=True)), "", "pods") for _ in range(12)]
    mark_privileged(pods)
    text = listing(pods, 10)
    assert text.count("pods/shop/w (hostPID: true)") == 10
    assert text.endswith(" and 2 more")
