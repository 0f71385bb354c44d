"""What an object refers to (backupd.kinds.references), one table per rule, and what
`auto` takes from it (backupd.kinds.needs)."""

from __future__ import annotations

from typing import Any

import pytest

from backupd.kinds.needs import Needs
from backupd.kinds.references import grants, references

JSON = dict[str, Any]
Ref = tuple[str, str | None, str]  # (kind, namespace, name)

# kind -> (group, resource)
TYPES = {
    "Pod": ("", "pods"),
    "ReplicationController": ("", "replicationcontrollers"),
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "ReplicaSet": ("apps", "replicasets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "PersistentVolume": ("", "persistentvolumes"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "Service": ("", "services"),
    "ValidatingWebhookConfiguration": (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    "APIService": ("apiregistration.k8s.io", "apiservices"),
}
_TEMPLATE_PATHS = {
    "Pod": (),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


# -- builders ---------------------------------------------------------------------
def thing(kind: str, name: str = "web", ns: str | None = "shop", **fields: Any) -> JSON:
    meta: JSON = {"name": name}
    if ns:
        meta["namespace"] = ns
    meta.update(fields.pop("metadata", {}))
    return {"kind": kind, "metadata": meta, **fields}


def workload(kind: str, pod_spec: JSON, name: str = "web") -> JSON:
    """`kind` (Pod, Deployment, CronJob, ...) whose pod spec is `pod_spec`."""
    path = _TEMPLATE_PATHS.get(kind, ("spec", "template"))
    body: JSON = {"spec": pod_spec}
    for key in reversed(path):
        body = {key: body}
    return thing(kind, name, **body)


def container(**fields: Any) -> JSON:
    return {"name": "app", "image": "app:1", **fields}


def refs_of(o: JSON, crd_names: tuple[str, ...] = ()) -> set[Ref]:
    group, resource = TYPES.get(o["kind"], ("example.com", o["kind"].lower() + "s"))
    return {
        (r.kind, r.namespace, r.name)
        for r in references(o, group, resource, o["kind"], crd_names=crd_names)
    }


POD_KINDS = [
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
]

# pod spec -> what it refers to
POD_SPEC_RULES: list[tuple[str, JSON, set[Ref]]] = [
    ("priority class", {"priorityClassName": "high"}, {("PriorityClass", None, "high")}),
    ("runtime class", {"runtimeClassName": "gvisor"}, {("RuntimeClass", None, "gvisor")}),
    ("service account", {"serviceAccountName": "web"}, {("ServiceAccount", "shop", "web")}),
    ("deprecated serviceAccount", {"serviceAccount": "old"}, {("ServiceAccount", "shop", "old")}),
    (
        "configmap and secret volumes",
        {"volumes": [{"name": "a", "configMap": {"name": "cfg"}}, {"secret": {"secretName": "s"}}]},
        {("ConfigMap", "shop", "cfg"), ("Secret", "shop", "s")},
    ),
    (
        "projected volume",
        {
            "volumes": [
                {
                    "projected": {
                        "sources": [
                            {"configMap": {"name": "p-cfg"}},
                            {"secret": {"name": "p-sec"}},
                            {"serviceAccountToken": {"path": "token"}},
                        ]
                    }
                }
            ]
        },
        {("ConfigMap", "shop", "p-cfg"), ("Secret", "shop", "p-sec")},
    ),
    (
        "claim volume",
        {"volumes": [{"persistentVolumeClaim": {"claimName": "data"}}]},
        {("PersistentVolumeClaim", "shop", "data")},
    ),
    (
        "ephemeral volume's storage class",
        {
            "volumes": [
                {"ephemeral": {"volumeClaimTemplate": {"spec": {"storageClassName": "scratch"}}}}
            ]
        },
        {("StorageClass", None, "scratch")},
    ),
    (
        "env valueFrom",
        {
            "containers": [
                container(
                    env=[
                        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}},
                        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}},
                        {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "D", "value": "plain"},
                    ]
                )
            ]
        },
        {("ConfigMap", "shop", "c1"), ("Secret", "shop", "s1")},
    ),
    (
        "envFrom",
        {"containers": [container(envFrom=[{"configMapRef": {"name": "c2"}}])]},
        {("ConfigMap", "shop", "c2")},
    ),
    (
        "init and ephemeral containers",
        {
            "initContainers": [container(envFrom=[{"secretRef": {"name": "init-s"}}])],
            "ephemeralContainers": [container(envFrom=[{"configMapRef": {"name": "dbg"}}])],
        },
        {("Secret", "shop", "init-s"), ("ConfigMap", "shop", "dbg")},
    ),
    (
        "image pull secrets",
        {"imagePullSecrets": [{"name": "registry"}]},
        {("Secret", "shop", "registry")},
    ),
    ("nothing", {"containers": [container()]}, set()),
]


@pytest.mark.parametrize("kind", POD_KINDS)
@pytest.mark.parametrize(
    ("rule", "pod_spec", "expected"), POD_SPEC_RULES, ids=[r[0] for r in POD_SPEC_RULES]
)
def test_a_pod_template_refers_to_what_its_pods_need(
    kind: str, rule: str, pod_spec: JSON, expected: set[Ref]
) -> None:
    assert refs_of(workload(kind, pod_spec)) == expected


def binding(kind: str, role_kind: str, role: str, subjects: list[JSON]) -> JSON:
    ns = "shop" if kind == "RoleBinding" else None
    return thing(
        kind,
        "b",
        ns,
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        subjects=subjects,
    )


def sa(name: str, ns: str | None = None) -> JSON:
    return {"kind": "ServiceAccount", "name": name, **({"namespace": ns} if ns else {})}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            binding("RoleBinding", "ClusterRole", "shop-admin", [sa("web", "shop")]),
            {("ClusterRole", None, "shop-admin"), ("ServiceAccount", "shop", "web")},
        ),
        (
            binding("RoleBinding", "Role", "reader", [sa("web")]),
            {("Role", "shop", "reader"), ("ServiceAccount", "shop", "web")},
        ),
        (
            binding(
                "RoleBinding",
                "Role",
                "reader",
                [sa("ci", "tools"), {"kind": "User", "name": "alice"}],
            ),
            {("Role", "shop", "reader"), ("ServiceAccount", "tools", "ci")},
        ),
        (
            binding("ClusterRoleBinding", "ClusterRole", "auditor", [sa("audit", "ops")]),
            {("ClusterRole", None, "auditor"), ("ServiceAccount", "ops", "audit")},
        ),
    ],
    ids=["rolebinding-clusterrole", "rolebinding-role", "other-namespace", "clusterrolebinding"],
)
def test_a_binding_refers_to_its_role_and_service_accounts(obj: JSON, expected: set[Ref]) -> None:
    assert refs_of(obj) == expected


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            thing(
                "PersistentVolumeClaim",
                "data",
                spec={"volumeName": "pv-1", "storageClassName": "fast"},
            ),
            {("PersistentVolume", None, "pv-1"), ("StorageClass", None, "fast")},
        ),
        (thing("PersistentVolumeClaim", "pending", spec={"storageClassName": ""}), set()),
        (
            thing(
                "PersistentVolumeClaim",
                "legacy",
                metadata={"annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
            ),
            {("StorageClass", None, "old")},
        ),
        (
            thing("PersistentVolume", "pv-1", None, spec={"storageClassName": "fast"}),
            {("StorageClass", None, "fast")},
        ),
        (
            thing(
                "StatefulSet",
                "db",
                spec={
                    "template": {"spec": {"containers": [container()]}},
                    "volumeClaimTemplates": [
                        {"metadata": {"name": "data"}, "spec": {"storageClassName": "ssd"}},
                        {"metadata": {"name": "logs"}, "spec": {}},
                    ],
                },
            ),
            {("StorageClass", None, "ssd")},
        ),
    ],
    ids=["claim", "claim-without-class", "claim-legacy-annotation", "volume", "statefulset"],
)
def test_storage_refers_to_volumes_and_storage_classes(obj: JSON, expected: set[Ref]) -> None:
    assert refs_of(obj) == expected


def ingress(**spec: Any) -> JSON:
    return thing("Ingress", "web", spec=spec)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (ingress(ingressClassName="nginx"), {("IngressClass", None, "nginx")}),
        (
            thing("Ingress", metadata={"annotations": {"kubernetes.io/ingress.class": "legacy"}}),
            {("IngressClass", None, "legacy")},
        ),
        (
            ingress(
                tls=[{"secretName": "web-tls"}],
                defaultBackend={"service": {"name": "fallback", "port": {"number": 80}}},
                rules=[{"http": {"paths": [{"backend": {"service": {"name": "web"}}}]}}],
            ),
            {
                ("Secret", "shop", "web-tls"),
                ("Service", "shop", "fallback"),
                ("Service", "shop", "web"),
            },
        ),
    ],
    ids=["class", "legacy-annotation", "tls-and-backends"],
)
def test_an_ingress_refers_to_its_class_secrets_and_services(obj: JSON, expected: set[Ref]) -> None:
    assert refs_of(obj) == expected


@pytest.mark.parametrize(
    ("kind", "group", "crd_names", "expected"),
    [
        ("Widget", "example.com", ("widgets.example.com",), {"widgets.example.com"}),
        # a CRD in a *.k8s.io group is still a CRD: it is found by name, not by group
        (
            "HTTPRoute",
            "gateway.networking.k8s.io",
            ("httproutes.gateway.networking.k8s.io",),
            {"httproutes.gateway.networking.k8s.io"},
        ),
        # no CRD of that name is known: no reference, whatever the group looks like
        ("Widget", "example.com", ("gadgets.example.com",), set()),
        ("Deployment", "apps", ("widgets.example.com",), set()),
    ],
)
def test_a_custom_resource_refers_to_its_crd_by_name(
    kind: str, group: str, crd_names: tuple[str, ...], expected: set[str]
) -> None:
    resource = kind.lower() + "s"
    found = references(thing(kind), group, resource, kind, crd_names=crd_names)
    assert {r.name for r in found if r.kind == "CustomResourceDefinition"} == expected


def test_a_reference_says_who_uses_it() -> None:
    deployment = workload("Deployment", {"priorityClassName": "high"})
    (ref,) = references(deployment, "apps", "deployments", "Deployment")
    assert ref.describe() == "PriorityClass high: used by deployment shop/web"
    assert ref.key == ("scheduling.k8s.io", "priorityclasses", "", "high")


def test_odd_shapes_are_ignored_not_fatal() -> None:
    odd = thing("Deployment", spec={"template": {"spec": {"volumes": "nope", "containers": [1]}}})
    assert refs_of(odd) == set()
    assert refs_of(thing("Pod", spec=None)) == set()


# -- Needs: what `auto` takes, transitively -------------------------------------
def drain(needs: Needs, held: dict[str, JSON]) -> list[str]:
    """Follow needs through `held` (name -> object), as backup and restore do."""
    taken = []
    while (ref := needs.next()) is not None:
        obj = held.get(ref.name)
        if obj is not None:
            taken.append(f"{ref.kind} {ref.name}")
            group, resource = TYPES.get(obj["kind"], ("", ""))
            needs.note(obj, group, resource, obj["kind"])
    return taken


def test_needs_follow_claim_to_volume_to_storage_class() -> None:
    needs = Needs()
    needs.note(
        thing("PersistentVolumeClaim", "data", spec={"volumeName": "pv-1"}),
        "",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
    )
    held = {"pv-1": thing("PersistentVolume", "pv-1", None, spec={"storageClassName": "slow"})}
    assert drain(needs, held) == ["PersistentVolume pv-1"]
    assert [r.describe() for r in needs.all()] == [
        "PersistentVolume pv-1: used by persistentvolumeclaim shop/data",
        "StorageClass slow: used by persistentvolume pv-1",
    ]


def test_needs_are_only_cluster_scoped_and_each_is_handed_out_once() -> None:
    needs = Needs()
    for name in ("web", "api", "worker"):
        needs.note(
            workload("Deployment", {"priorityClassName": "high", "serviceAccountName": "x"}, name),
            "apps",
            "deployments",
            "Deployment",
        )
    ref = needs.next()
    assert ref is not None and ref.kind == "PriorityClass"
    assert needs.next() is None
    assert needs.reason(ref.key) == "used by deployment shop/web and 2 more"


@pytest.mark.parametrize("kind", ["ValidatingWebhookConfiguration", "APIService", "Service"])
def test_webhooks_api_services_and_others_are_never_needed(kind: str) -> None:
    needs = Needs(crd_names=("widgets.example.com",))
    group, resource = TYPES[kind]
    webhook = thing(
        kind,
        "hook",
        None,
        webhooks=[{"clientConfig": {"service": {"name": "svc", "namespace": "shop"}}}],
        spec={"service": {"name": "svc", "namespace": "shop"}, "selector": {"app": "x"}},
    )
    assert needs.note(webhook, group, resource, kind) == []
    assert needs.next() is None


# -- the reverse rule: a ClusterRoleBinding is needed by the accounts it grants -----
def account(name: str, ns: str = "shop") -> JSON:
    return thing("ServiceAccount", name, ns)


def note_accounts(needs: Needs, *accounts: JSON) -> None:
    for a in accounts:
        needs.note(a, "", "serviceaccounts", "ServiceAccount")


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            binding("ClusterRoleBinding", "ClusterRole", "r", [sa("app", "shop")]),
            [("shop", "app")],
        ),
        (
            binding(
                "ClusterRoleBinding",
                "ClusterRole",
                "r",
                [sa("app", "shop"), {"kind": "User", "name": "alice"}, sa("ci", "tools")],
            ),
            [("shop", "app"), ("tools", "ci")],
        ),
        (
            binding(
                "ClusterRoleBinding", "ClusterRole", "r", [sa("app", "shop"), sa("app", "shop")]
            ),
            [("shop", "app")],
        ),
        (binding("ClusterRoleBinding", "ClusterRole", "r", [sa("app")]), []),
        (
            binding(
                "ClusterRoleBinding",
                "ClusterRole",
                "r",
                [{"kind": "Group", "name": "system:serviceaccounts:shop"}],
            ),
            [],
        ),
        (binding("RoleBinding", "ClusterRole", "r", [sa("app", "shop")]), []),
        (thing("ClusterRoleBinding", "b", None, subjects="nope"), []),
    ],
    ids=[
        "one-account",
        "accounts-among-users",
        "named-twice",
        "no-namespace",
        "group-of-accounts",
        "rolebinding-is-namespaced",
        "odd-subjects",
    ],
)
def test_a_cluster_role_binding_grants_the_service_accounts_among_its_subjects(
    obj: JSON, expected: list[tuple[str, str]]
) -> None:
    group, _ = TYPES[obj["kind"]]
    assert grants(obj, group, obj["kind"]) == expected


@pytest.mark.parametrize(
    ("accounts", "subjects", "expected"),
    [
        ([account("app")], [sa("app", "shop")], "grants serviceaccount shop/app"),
        (
            [account("app"), account("ci", "tools")],
            [sa("ci", "tools"), sa("app", "shop")],
            "grants serviceaccount tools/ci and 1 more",
        ),
        ([account("app")], [sa("app", "other")], None),
        ([account("app")], [sa("web", "shop")], None),
        ([], [sa("app", "shop")], None),
    ],
    ids=["granted", "two-granted", "same-name-other-namespace", "other-account", "none-noted"],
)
def test_a_binding_is_needed_only_when_it_grants_an_account_noted_before(
    accounts: list[JSON], subjects: list[JSON], expected: str | None
) -> None:
    needs = Needs()
    note_accounts(needs, *accounts)
    crb = binding("ClusterRoleBinding", "ClusterRole", "reader", subjects)
    group, resource = TYPES["ClusterRoleBinding"]
    ref = needs.granting(crb, group, resource, "ClusterRoleBinding")
    if expected is None:
        assert ref is None
        assert needs.all() == []
    else:
        assert ref is not None
        assert needs.describe(ref.key) == f"ClusterRoleBinding b: {expected}"
        assert needs.next() is None  # the caller holds it: never handed out again


def test_a_granting_binding_leads_on_to_its_cluster_role() -> None:
    needs = Needs()
    note_accounts(needs, account("app"))
    crb = binding("ClusterRoleBinding", "ClusterRole", "reader", [sa("app", "shop")])
    group, resource = TYPES["ClusterRoleBinding"]
    assert needs.granting(crb, group, resource, "ClusterRoleBinding") is not None
    needs.note(crb, group, resource, "ClusterRoleBinding")
    held = {"reader": thing("ClusterRole", "reader", None)}
    assert drain(needs, held) == ["ClusterRole reader"]
    assert [needs.describe(r.key) for r in needs.all()] == [
        "ClusterRoleBinding b: grants serviceaccount shop/app",
        "ClusterRole reader: used by clusterrolebinding b",
    ]
