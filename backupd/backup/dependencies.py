"""What cluster-scoped objects the selected namespaced items depend on. Pure.

With `--include-cluster-resources=auto` a backup takes only these: the PVs bound to
its PVCs, the StorageClasses they use, the CRDs of its custom resources, the
ClusterRoles its RoleBindings reference, and the PriorityClasses its Pods use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Where a pod spec lives in each workload kind.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


@dataclass
class Dependencies:
    """Names of cluster-scoped objects, by group_resource."""

    persistent_volumes: set[str] = field(default_factory=set)
    storage_classes: set[str] = field(default_factory=set)
    crds: set[str] = field(default_factory=set)
    cluster_roles: set[str] = field(default_factory=set)
    priority_classes: set[str] = field(default_factory=set)

    def by_resource(self) -> dict[str, set[str]]:
        return {
            "persistentvolumes": self.persistent_volumes,
            "storageclasses.storage.k8s.io": self.storage_classes,
            "customresourcedefinitions.apiextensions.k8s.io": self.crds,
            "clusterroles.rbac.authorization.k8s.io": self.cluster_roles,
            "priorityclasses.scheduling.k8s.io": self.priority_classes,
        }

    def note(self, obj: dict[str, Any], *, group: str, resource: str, crd_groups: set[str]) -> None:
        """Record what one backed-up object refers to."""
        kind = obj.get("kind", "")
        spec = obj.get("spec") or {}
        if group in crd_groups:
            self.crds.add(f"{resource}.{group}")
        if kind == "PersistentVolumeClaim" and not group:
            if spec.get("volumeName"):
                self.persistent_volumes.add(spec["volumeName"])
            if spec.get("storageClassName"):
                self.storage_classes.add(spec["storageClassName"])
        elif kind == "PersistentVolume" and not group:
            if spec.get("storageClassName"):
                self.storage_classes.add(spec["storageClassName"])
        elif kind == "RoleBinding" and group == "rbac.authorization.k8s.io":
            ref = obj.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole" and ref.get("name"):
                self.cluster_roles.add(ref["name"])
        if kind == "StatefulSet":
            for tpl in spec.get("volumeClaimTemplates") or []:
                sc = (tpl.get("spec") or {}).get("storageClassName")
                if sc:
                    self.storage_classes.add(sc)
        path = _POD_SPEC_PATHS.get(kind)
        if path is not None:
            pod_spec = _dig(obj, path) or {}
            if pod_spec.get("priorityClassName"):
                self.priority_classes.add(pod_spec["priorityClassName"])

    def note_pv(self, pv: dict[str, Any]) -> None:
        sc = (pv.get("spec") or {}).get("storageClassName")
        if sc:
            self.storage_classes.add(sc)
