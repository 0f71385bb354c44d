"""What an object refers to: the other objects it needs in order to work. Pure, no I/O.

One rule per kind, one table of rules. Backup's `--include-cluster-resources auto`
and restore's planner both ask this module, so they cannot disagree:

    Pod templates (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
    ReplicationController, Job, CronJob)
                    PriorityClass, RuntimeClass, ServiceAccount, ConfigMaps and Secrets
                    (volumes incl. projected, env valueFrom, envFrom, imagePullSecrets,
                    init and ephemeral containers), PVCs, generic ephemeral volumes'
                    StorageClass
    StatefulSet     + its volumeClaimTemplates' StorageClass
    RoleBinding     its Role or ClusterRole, its subjects' ServiceAccounts
    ClusterRoleBinding  its ClusterRole, its subjects' ServiceAccounts
    PVC             its PersistentVolume and StorageClass
    PV              its StorageClass
    Ingress         its IngressClass, TLS Secrets and backend Services
    any object      its CustomResourceDefinition, when the CRD named
                    `<plural>.<group>` is one of `crd_names` (the CRDs a backup
                    holds or a cluster serves), never guessed from the group's name

`Needs` follows these rules transitively (PVC -> PV -> StorageClass) to the
cluster-scoped objects that `auto` takes. Only the targets above are ever taken:
webhooks, APIServices and other cluster-scoped objects never are.

One rule points the other way, from a cluster-scoped object *to* the namespace:

    ClusterRoleBinding  needed by each ServiceAccount among its subjects (an app whose
                        account is granted cluster-wide rights loses them without it);
                        `grants()` says which, and `Needs.granting()` takes it. Its
                        types are GRANTING_TYPES: `auto` lists them (backup) or reads
                        them from the backup (restore), as it cannot follow them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A type that can be referred to."""

    group: str
    resource: str
    kind: str
    namespaced: bool

    @property
    def group_resource(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


PRIORITY_CLASS = Kind("scheduling.k8s.io", "priorityclasses", "PriorityClass", False)
RUNTIME_CLASS = Kind("node.k8s.io", "runtimeclasses", "RuntimeClass", False)
STORAGE_CLASS = Kind("storage.k8s.io", "storageclasses", "StorageClass", False)
PERSISTENT_VOLUME = Kind("", "persistentvolumes", "PersistentVolume", False)
CLUSTER_ROLE = Kind("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", False)
INGRESS_CLASS = Kind("networking.k8s.io", "ingressclasses", "IngressClass", False)
CRD = Kind("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", False)
SERVICE_ACCOUNT = Kind("", "serviceaccounts", "ServiceAccount", True)
CONFIG_MAP = Kind("", "configmaps", "ConfigMap", True)
SECRET = Kind("", "secrets", "Secret", True)
SERVICE = Kind("", "services", "Service", True)
PVC = Kind("", "persistentvolumeclaims", "PersistentVolumeClaim", True)
ROLE = Kind("rbac.authorization.k8s.io", "roles", "Role", True)
CLUSTER_ROLE_BINDING = Kind(
    "rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", False
)

# The cluster-scoped types a reference can lead to: all that `auto` may ever take.
CLUSTER_SCOPED_TARGETS: frozenset[tuple[str, str]] = frozenset(
    (k.group, k.resource)
    for k in (
        PRIORITY_CLASS,
        RUNTIME_CLASS,
        STORAGE_CLASS,
        PERSISTENT_VOLUME,
        CLUSTER_ROLE,
        INGRESS_CLASS,
        CRD,
    )
)
# The cluster-scoped types that point to a namespace's objects (the reverse rule).
GRANTING_TYPES: frozenset[tuple[str, str]] = frozenset(
    {(CLUSTER_ROLE_BINDING.group, CLUSTER_ROLE_BINDING.resource)}
)
LEGACY_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
LEGACY_INGRESS_CLASS = "kubernetes.io/ingress.class"


@dataclass(frozen=True)
class Reference:
    """One object another object needs, and why ("used by deployment shop/web")."""

    group: str
    resource: str
    kind: str
    namespace: str | None  # None: cluster-scoped
    name: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The same identity as a backup index entry's key."""
        return (self.group, self.resource, self.namespace or "", self.name)

    @property
    def group_resource(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def describe(self) -> str:
        """`PriorityClass high: used by deployment shop/web`."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}: {self.reason}"


# -- reading an object ------------------------------------------------------------
Found = tuple[Kind, str | None, str]  # (type, namespace, name)


def _dict(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[JSON]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dig(obj: Any, *path: str) -> JSON:
    for key in path:
        obj = _dict(obj).get(key)
    return _dict(obj)


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _spec(obj: JSON) -> JSON:
    return _dict(obj.get("spec"))


def _annotation(obj: JSON, key: str) -> str | None:
    return _name(_dig(obj, "metadata", "annotations").get(key))


# -- pod templates ------------------------------------------------------------------
def _containers(pod: JSON) -> Iterator[JSON]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from _list(pod.get(field))


def _container_refs(container: JSON, ns: str | None) -> Iterator[Found]:
    for env in _list(container.get("env")):
        source = _dict(env.get("valueFrom"))
        if name := _name(_dict(source.get("configMapKeyRef")).get("name")):
            yield CONFIG_MAP, ns, name
        if name := _name(_dict(source.get("secretKeyRef")).get("name")):
            yield SECRET, ns, name
    for env_from in _list(container.get("envFrom")):
        if name := _name(_dict(env_from.get("configMapRef")).get("name")):
            yield CONFIG_MAP, ns, name
        if name := _name(_dict(env_from.get("secretRef")).get("name")):
            yield SECRET, ns, name


def _volume_refs(volume: JSON, ns: str | None) -> Iterator[Found]:
    if name := _name(_dict(volume.get("configMap")).get("name")):
        yield CONFIG_MAP, ns, name
    if name := _name(_dict(volume.get("secret")).get("secretName")):
        yield SECRET, ns, name
    if name := _name(_dict(volume.get("persistentVolumeClaim")).get("claimName")):
        yield PVC, ns, name
    if name := _name(_dig(volume, "csi", "nodePublishSecretRef").get("name")):
        yield SECRET, ns, name
    for source in _list(_dict(volume.get("projected")).get("sources")):
        if name := _name(_dict(source.get("configMap")).get("name")):
            yield CONFIG_MAP, ns, name
        if name := _name(_dict(source.get("secret")).get("name")):
            yield SECRET, ns, name
    claim = _dig(volume, "ephemeral", "volumeClaimTemplate", "spec")
    if name := _name(claim.get("storageClassName")):
        yield STORAGE_CLASS, None, name


def pod_spec_refs(pod: JSON, ns: str | None) -> Iterator[Found]:
    """What a pod spec (a Pod's, or a template's) refers to."""
    if name := _name(pod.get("priorityClassName")):
        yield PRIORITY_CLASS, None, name
    if name := _name(pod.get("runtimeClassName")):
        yield RUNTIME_CLASS, None, name
    if name := _name(pod.get("serviceAccountName")) or _name(pod.get("serviceAccount")):
        yield SERVICE_ACCOUNT, ns, name
    for secret in _list(pod.get("imagePullSecrets")):
        if name := _name(secret.get("name")):
            yield SECRET, ns, name
    for volume in _list(pod.get("volumes")):
        yield from _volume_refs(volume, ns)
    for container in _containers(pod):
        yield from _container_refs(container, ns)


def _template(*path: str) -> Callable[[JSON, str | None], Iterator[Found]]:
    def rule(obj: JSON, ns: str | None) -> Iterator[Found]:
        return pod_spec_refs(_dig(obj, *path), ns)

    return rule


def _statefulset(obj: JSON, ns: str | None) -> Iterator[Found]:
    yield from pod_spec_refs(_dig(obj, "spec", "template", "spec"), ns)
    for template in _list(_spec(obj).get("volumeClaimTemplates")):
        if name := _name(_spec(template).get("storageClassName")):
            yield STORAGE_CLASS, None, name


# -- other kinds --------------------------------------------------------------------
def _binding(obj: JSON, ns: str | None) -> Iterator[Found]:
    role = _dict(obj.get("roleRef"))
    if name := _name(role.get("name")):
        if role.get("kind") == "ClusterRole":
            yield CLUSTER_ROLE, None, name
        elif role.get("kind") == "Role" and ns:
            yield ROLE, ns, name
    for subject in _list(obj.get("subjects")):
        subject_ns = _name(subject.get("namespace")) or ns
        name = _name(subject.get("name"))
        if subject.get("kind") == "ServiceAccount" and name and subject_ns:
            yield SERVICE_ACCOUNT, subject_ns, name


def _storage_class(obj: JSON) -> Iterator[Found]:
    if name := _name(_spec(obj).get("storageClassName")) or _annotation(obj, LEGACY_STORAGE_CLASS):
        yield STORAGE_CLASS, None, name


def _claim(obj: JSON, ns: str | None) -> Iterator[Found]:
    if name := _name(_spec(obj).get("volumeName")):
        yield PERSISTENT_VOLUME, None, name
    yield from _storage_class(obj)


def _volume(obj: JSON, ns: str | None) -> Iterator[Found]:
    return _storage_class(obj)


def _backend_service(backend: JSON, ns: str | None) -> Iterator[Found]:
    if name := _name(_dict(backend.get("service")).get("name")):
        yield SERVICE, ns, name


def _ingress(obj: JSON, ns: str | None) -> Iterator[Found]:
    spec = _spec(obj)
    if name := _name(spec.get("ingressClassName")) or _annotation(obj, LEGACY_INGRESS_CLASS):
        yield INGRESS_CLASS, None, name
    for tls in _list(spec.get("tls")):
        if name := _name(tls.get("secretName")):
            yield SECRET, ns, name
    yield from _backend_service(_dict(spec.get("defaultBackend")), ns)
    for rule in _list(spec.get("rules")):
        for path in _list(_dict(rule.get("http")).get("paths")):
            yield from _backend_service(_dict(path.get("backend")), ns)


# (group, kind) -> where its pod spec is (every kind that makes Pods)
POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}


def pod_spec(obj: JSON, group: str, kind: str) -> JSON | None:
    """The pod spec of a Pod or of a workload's template; None for other kinds."""
    path = POD_SPEC_PATHS.get((group, kind))
    return None if path is None else _dig(obj, *path)


Rule = Callable[[JSON, str | None], Iterator[Found]]
# (group, kind) -> the rule for it
RULES: dict[tuple[str, str], Rule] = {
    **{k: _template(*path) for k, path in POD_SPEC_PATHS.items()},
    ("apps", "StatefulSet"): _statefulset,
    ("rbac.authorization.k8s.io", "RoleBinding"): _binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _binding,
    ("", "PersistentVolumeClaim"): _claim,
    ("", "PersistentVolume"): _volume,
    ("networking.k8s.io", "Ingress"): _ingress,
}


def user_of(kind: str, namespace: str | None, name: str) -> str:
    """`deployment shop/web`, `persistentvolume pv-1`: the referrer, as a reason names it."""
    return f"{kind.lower()} {namespace}/{name}" if namespace else f"{kind.lower()} {name}"


def references(
    obj: JSON, group: str, resource: str, kind: str, *, crd_names: Collection[str] = ()
) -> list[Reference]:
    """Every object `obj` (of type group/resource/kind) refers to, each once, in order.

    `crd_names` are the CRDs known to exist (`<plural>.<group>`): an object whose
    type is one of them refers to its CRD.
    """
    meta = _dict(obj.get("metadata"))
    ns = _name(meta.get("namespace"))
    reason = f"used by {user_of(kind, ns, str(meta.get('name', '')))}"
    found: list[Found] = []
    rule = RULES.get((group, kind))
    if rule is not None:
        found.extend(rule(obj, ns))
    if group and f"{resource}.{group}" in crd_names:
        found.append((CRD, None, f"{resource}.{group}"))
    out: dict[tuple[str, str, str, str], Reference] = {}
    for target, target_ns, name in found:
        ref = Reference(target.group, target.resource, target.kind, target_ns, name, reason)
        out.setdefault(ref.key, ref)
    return list(out.values())


# -- the reverse rule: what points to a namespace's objects ---------------------------
def grants(obj: JSON, group: str, kind: str) -> list[tuple[str, str]]:
    """The ServiceAccounts (namespace, name) a ClusterRoleBinding grants its role to.

    Empty for any other kind, and for subjects without a namespace (invalid in a
    ClusterRoleBinding).
    """
    if (group, kind) != (CLUSTER_ROLE_BINDING.group, CLUSTER_ROLE_BINDING.kind):
        return []
    found = (
        (ns, name) for target, ns, name in _binding(obj, None) if target is SERVICE_ACCOUNT and ns
    )
    return list(dict.fromkeys(found))
