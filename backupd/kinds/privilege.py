"""Whether an object grants cluster-wide power, and why. Pure, no I/O.

A restore from a backup someone else could write must not hand out power without a
word (see runbooks/incident-restore.md). One rule per kind:

    ClusterRole, Role        a rule with verb `*`, resource `*` (or `*/<sub>`), or
                             the verbs escalate, bind or impersonate
    ClusterRoleBinding,      binds ClusterRole cluster-admin, or a (Cluster)Role the
    RoleBinding              rules above call privileged (its rules are looked up in
                             `roles`: the restore's own version and the live one)
    Validating/Mutating-     an admission webhook: it sees (a mutating one changes)
    WebhookConfiguration     the requests it matches, cluster-wide
    Pod and every pod        a privileged (or Windows hostProcess) container,
    template (references.    capabilities added beyond the Pod Security Standards'
    POD_SPEC_PATHS)          baseline set (SYS_ADMIN, NET_ADMIN, ALL, ...), hostPID,
                             hostIPC, hostNetwork, a hostPath volume

Not covered: a hostPath PersistentVolume (a claim on it gives a Pod the host path
too). Restores of stateful apps on single-node clusters rely on them, so they are
left to the reviewer of the plan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from backupd.kinds.references import pod_spec

JSON = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
ADMISSION = "admissionregistration.k8s.io"
CLUSTER_ADMIN = "cluster-admin"
POWER_VERBS = ("escalate", "bind", "impersonate")
WEBHOOK_KINDS = frozenset({"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"})
# Capabilities a Pod may add under the Pod Security Standards' baseline profile.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
HOST_NAMESPACES = ("hostPID", "hostIPC", "hostNetwork")

# (kind, namespace, name) of a Role or ClusterRole (namespace None) -> its rules
RoleKey = tuple[str, str | None, str]
Roles = Mapping[RoleKey, Sequence[Any]]


def _dict(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [v for v in _list(value) if isinstance(v, str)]


def _names(values: Sequence[str]) -> str:
    return ",".join(sorted(set(values)))


# -- RBAC -----------------------------------------------------------------------------
def rule_reasons(rules: Any) -> list[str]:
    """Why a role's rules grant power: `*` verbs or resources, escalate/bind/impersonate."""
    out: list[str] = []
    for rule in _list(rules):
        rule = _dict(rule)
        verbs = _strings(rule.get("verbs"))
        resources = _strings(rule.get("resources"))
        on = _names(resources) or _names(_strings(rule.get("nonResourceURLs"))) or "nothing"
        if "*" in verbs:
            out.append(f"every verb (*) on {on}")
        wild = [r for r in resources if r == "*" or r.startswith("*/")]
        if wild:
            out.append(f"{_names(verbs) or 'no verb'} on every resource ({_names(wild)})")
        power = [v for v in verbs if v in POWER_VERBS]
        if power:
            out.append(f"{_names(power)} on {on}")
    return list(dict.fromkeys(out))


def role_of(binding: JSON) -> RoleKey | None:
    """The role a (Cluster)RoleBinding binds: ("ClusterRole", None, name) or ("Role", ns, name)."""
    ref = _dict(binding.get("roleRef"))
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        return None
    if ref.get("kind") == "ClusterRole":
        return ("ClusterRole", None, name)
    ns = _dict(binding.get("metadata")).get("namespace")
    if ref.get("kind") == "Role" and isinstance(ns, str) and ns:
        return ("Role", ns, name)
    return None


def binding_reasons(binding: JSON, roles: Roles) -> list[str]:
    """Why a binding grants power: it binds cluster-admin, or a role that grants power."""
    key = role_of(binding)
    if key is None:
        return []
    kind, _, name = key
    if key == ("ClusterRole", None, CLUSTER_ADMIN):
        return [f"binds ClusterRole {CLUSTER_ADMIN}"]
    granted = rule_reasons(roles.get(key, ()))
    return [f"binds {kind} {name}, which grants {'; '.join(granted)}"] if granted else []


# -- Pods -------------------------------------------------------------------------------
def _containers(pod: JSON) -> Iterator[JSON]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from (_dict(c) for c in _list(pod.get(field)))


def _capability(name: str) -> str:
    name = name.upper()
    return name.removeprefix("CAP_")


def pod_reasons(pod: JSON) -> list[str]:
    """Why a pod spec gives its containers power over the node (and so the cluster)."""
    out = [f"{field}: true" for field in HOST_NAMESPACES if pod.get(field) is True]
    if _dict(_dict(pod.get("securityContext")).get("windowsOptions")).get("hostProcess") is True:
        out.append("a Windows hostProcess pod")
    for volume in _list(pod.get("volumes")):
        host_path = _dict(_dict(volume).get("hostPath"))
        if host_path:
            out.append(f"hostPath volume {_dict(volume).get('name')} ({host_path.get('path')})")
    for c in _containers(pod):
        name = c.get("name")
        security = _dict(c.get("securityContext"))
        if security.get("privileged") is True:
            out.append(f"privileged container {name}")
        if _dict(security.get("windowsOptions")).get("hostProcess") is True:
            out.append(f"hostProcess container {name}")
        added = _strings(_dict(security.get("capabilities")).get("add"))
        beyond = [cap for cap in added if _capability(cap) not in BASELINE_CAPABILITIES]
        if beyond:
            out.append(f"container {name} adds capabilities {_names(beyond)}")
    return out


# -- any object ------------------------------------------------------------------------
def _webhook_reasons(obj: JSON, kind: str) -> list[str]:
    what = "mutating" if kind.startswith("Mutating") else "validating"
    hooks = [_dict(h) for h in _list(obj.get("webhooks"))]
    names = _names([str(h.get("name", "")) for h in hooks]) or "no webhooks"
    return [f"a {what} admission webhook configuration ({names})"]


def reasons(obj: JSON, group: str, kind: str, *, roles: Roles | None = None) -> list[str]:
    """Why `obj` (of type group/kind) grants cluster-wide power; [] when it does not.

    `roles` are the rules of the roles bindings may bind (see the module docstring);
    a binding to a role not in it is judged by its name alone (cluster-admin).
    """
    if group == RBAC and kind in ("ClusterRole", "Role"):
        granted = rule_reasons(obj.get("rules"))
        return [f"grants {g}" for g in granted]
    if group == RBAC and kind in ("ClusterRoleBinding", "RoleBinding"):
        return binding_reasons(obj, roles or {})
    if group == ADMISSION and kind in WEBHOOK_KINDS:
        return _webhook_reasons(obj, kind)
    spec = pod_spec(obj, group, kind)
    return pod_reasons(spec) if spec is not None else []
