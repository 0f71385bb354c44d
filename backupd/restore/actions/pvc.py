"""PersistentVolumeClaims: clean binding annotations; keep the bound volume only if
that PersistentVolume is restored too (else the claim is provisioned anew)."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Changed, Context, drop_keys, meta

BINDING_ANNOTATIONS = frozenset(
    {
        "pv.kubernetes.io/bind-completed",
        "pv.kubernetes.io/bound-by-controller",
        "volume.beta.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/selected-node",
    }
)


def run(obj: JSON, ctx: Context) -> JSON | Changed:
    drop_keys(meta(obj).get("annotations"), BINDING_ANNOTATIONS)
    spec: JSON = obj.get("spec") or {}
    volume = spec.get("volumeName")
    if volume and volume not in ctx.restored_pvs:
        del spec["volumeName"]
        return Changed(obj, (f"volume {volume} is not restored; the claim binds anew",))
    return obj


ACTION = Action("pvc-binding", run, kinds=frozenset({("", "PersistentVolumeClaim")}))
