"""--namespace-mappings: rename a namespace wherever an object refers to it.

metadata.namespace, a Namespace's own name, RoleBinding and ClusterRoleBinding
subjects, and a PersistentVolume's claimRef.
"""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, meta

_BINDINGS = frozenset(
    {
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    }
)


def run(obj: JSON, ctx: Context) -> JSON:
    mapping = ctx.spec.namespace_mappings
    if not mapping:
        return obj
    m = meta(obj)
    if m.get("namespace") in mapping:
        m["namespace"] = mapping[m["namespace"]]
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = obj.get("kind")
    if (group, kind) == ("", "Namespace") and m.get("name") in mapping:
        m["name"] = mapping[m["name"]]
    elif (group, kind) in _BINDINGS:
        for subject in obj.get("subjects") or []:
            if subject.get("namespace") in mapping:
                subject["namespace"] = mapping[subject["namespace"]]
    elif (group, kind) == ("", "PersistentVolume"):
        claim = (obj.get("spec") or {}).get("claimRef")
        if isinstance(claim, dict) and claim.get("namespace") in mapping:
            claim["namespace"] = mapping[claim["namespace"]]
    return obj


ACTION = Action("namespace-mapping", run)
