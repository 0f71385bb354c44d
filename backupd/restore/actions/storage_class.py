"""--storage-class-mappings: PersistentVolumes, claims and StatefulSet claim templates
use the target's storage class; a mapped-away StorageClass is not restored."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, Skip, meta

LEGACY_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def _map_spec(obj: JSON, mapping: dict[str, str]) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict) and spec.get("storageClassName") in mapping:
        spec["storageClassName"] = mapping[spec["storageClassName"]]
    annotations = meta(obj).get("annotations") or {}
    if annotations.get(LEGACY_ANNOTATION) in mapping:
        annotations[LEGACY_ANNOTATION] = mapping[annotations[LEGACY_ANNOTATION]]


def run(obj: JSON, ctx: Context) -> JSON | Skip:
    mapping = ctx.spec.storage_class_mappings
    if not mapping:
        return obj
    kind = obj.get("kind")
    if kind == "StorageClass":
        name = meta(obj).get("name")
        if name in mapping:
            return Skip(f"mapped to storage class {mapping[name]}")
    elif kind == "StatefulSet":
        for template in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
            _map_spec(template, mapping)
    else:
        _map_spec(obj, mapping)
    return obj


ACTION = Action(
    "storage-class-mapping",
    run,
    kinds=frozenset(
        {
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("apps", "StatefulSet"),
            ("storage.k8s.io", "StorageClass"),
        }
    ),
)
