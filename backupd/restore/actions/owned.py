"""Pods, ReplicaSets, Jobs (and ControllerRevisions) whose controller is also restored.

The controller makes them again (a Deployment its ReplicaSet and Pods, a CronJob
its Jobs); restoring them as well would make duplicates.
"""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, Skip, controller_uid, meta


def run(obj: JSON, ctx: Context) -> JSON | Skip:
    uid = controller_uid(obj)
    if uid is not None and uid in ctx.restored_uids:
        owner = next(r for r in meta(obj).get("ownerReferences", []) if r.get("uid") == uid)
        return Skip(f"made again by its controller {owner.get('kind')}/{owner.get('name')}")
    return obj


ACTION = Action(
    "skip-controller-owned",
    run,
    kinds=frozenset(
        {("", "Pod"), ("apps", "ReplicaSet"), ("batch", "Job"), ("apps", "ControllerRevision")}
    ),
)
