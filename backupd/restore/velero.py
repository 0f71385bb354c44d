"""Velero's restore conventions for a Velero backup: what it never restores, and why. Pure.

Velero skips its own resources (backups, restores, schedules and repositories are
cluster-specific and re-synced from the bucket; their CRDs belong to its install) and
the types its restore lists as non-restorable (nodes, events, CSI nodes, volume
attachments). backupd's planner already never restores the cluster-managed ones; the
Velero ones are skipped here, each with its reason in the plan.
"""

from __future__ import annotations

from backupd.restore.planner import Plan

VELERO_GROUP = "velero.io"
_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
OWN = "Velero's own resource: never restored from a Velero backup (Velero re-syncs it)"
OWN_CRD = "a CRD of Velero's own install: never restored from a Velero backup"


def skip_reason(group: str, resource: str, name: str) -> str | None:
    """Why an item of a Velero backup is not restored (None: it is)."""
    if group == VELERO_GROUP or group.endswith("." + VELERO_GROUP):
        return OWN
    if (group, resource) == _CRDS and name.endswith("." + VELERO_GROUP):
        return OWN_CRD
    return None


def apply(plan: Plan) -> int:
    """Skip, in `plan`, what Velero's restore would skip; returns how many."""
    skipped = 0
    for item in plan.items:
        why = skip_reason(item.source.group, item.source.resource, item.source.name)
        if why is not None and item.obj is not None:
            item.obj = None
            item.skip_reason = why
            skipped += 1
    return skipped
