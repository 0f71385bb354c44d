"""PersistentVolumes: clean binding annotations and point the claimRef at the claim
by namespace and name only, so it binds to the restored claim (whose uid is new)."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, drop_keys, meta

BINDING_ANNOTATIONS = frozenset({"pv.kubernetes.io/bound-by-controller"})


def run(obj: JSON, ctx: Context) -> JSON:
    drop_keys(meta(obj).get("annotations"), BINDING_ANNOTATIONS)
    claim = (obj.get("spec") or {}).get("claimRef")
    if isinstance(claim, dict):
        drop_keys(claim, ("uid", "resourceVersion"))
    return obj


ACTION = Action("pv-claimref", run, kinds=frozenset({("", "PersistentVolume")}))
