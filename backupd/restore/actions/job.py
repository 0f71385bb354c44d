"""Jobs: drop the controller-uid labels and the generated selector; the target
generates them for the new Job's uid (a manualSelector Job keeps its own)."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, drop_keys
from backupd.restore.serverfields import JOB_UID_LABELS


def strip_uid(obj: JSON) -> None:
    """Drop the labels and generated selector that carry the Job's uid (in place)."""
    spec: JSON = obj.get("spec") or {}
    drop_keys(obj.get("metadata", {}).get("labels"), JOB_UID_LABELS)
    drop_keys(spec.get("template", {}).get("metadata", {}).get("labels"), JOB_UID_LABELS)
    if not spec.get("manualSelector"):
        spec.pop("selector", None)


def run(obj: JSON, ctx: Context) -> JSON:
    strip_uid(obj)
    return obj


ACTION = Action("job-selector", run, kinds=frozenset({("batch", "Job")}))
