"""Backup resources: a new one runs the backup engine in a worker thread.

New -> InProgress -> Completed | PartiallyFailed | Failed, patched through the
status subresource; Events say when it started and how it ended. A Backup
imported by catalog sync (annotation backupd.io/imported-from) ran elsewhere and
is never run here. A Backup left InProgress by a controller that stopped is marked
Failed at start-up (`fail_interrupted`), never resumed.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from backupd.api.backup import LOCATION_LABEL, SCHEDULE_LABEL, Backup, BackupSpec
from backupd.api.common import Phase
from backupd.backup import engine
from backupd.cluster.client import JSON
from backupd.controller import jobs
from backupd.controller.context import Context
from backupd.controller.resources import (
    IMPORTED,
    annotations_of,
    labels_of,
    phase_of,
    stamp,
)
from backupd.errors import BackupdError
from backupd.snapshots.backup import take_all as take_volume_snapshots

PLURAL = "backups"
INTERRUPTED = "interrupted: the controller stopped while it ran ({when}); it is not resumed"
log = logging.getLogger(__name__)


def should_run(obj: JSON) -> bool:
    return phase_of(obj) == Phase.new.value and IMPORTED not in annotations_of(obj)


def on_event(ctx: Context, obj: JSON) -> None:
    """Called for every watch event of a Backup: start a new one, once."""
    name = obj["metadata"]["name"]
    if should_run(obj) and not ctx.stopping.is_set() and ctx.claim(PLURAL, name):
        ctx.workers.submit(run_one, ctx, name)


def _fail(ctx: Context, obj: JSON, reason: str) -> None:
    jobs.fail(ctx, obj, PLURAL, ctx.metrics.backup_total, reason)


def run_one(ctx: Context, name: str) -> None:
    jobs.run_guarded(ctx, PLURAL, name, _run, _fail)


def _run(ctx: Context, name: str) -> None:
    obj = ctx.res.get(PLURAL, name)
    if obj is None or not should_run(obj):
        return
    try:
        spec = BackupSpec.model_validate(obj.get("spec") or {})
        resolved = ctx.locations.resolve(spec.storage_location)
    except (ValidationError, BackupdError) as e:
        _fail(ctx, obj, f"invalid: {str(e).splitlines()[0]}")
        return
    if resolved.location.read_only:
        velero = resolved.location.format == "velero"
        why = "holds Velero backups (format Velero), read-only" if velero else "is ReadOnly"
        _fail(ctx, obj, f"storage location {resolved.name} {why}")
        return
    labels = labels_of(obj)
    ctx.res.patch(PLURAL, name, {"metadata": {"labels": {LOCATION_LABEL: resolved.name}}})
    message = f"backing up to {resolved.name} ({resolved.location.url})"
    reporter = jobs.start(ctx, obj, PLURAL, message, done_field="itemsBackedUp")
    try:
        backup = engine.run(
            name,
            spec,
            kube=ctx.kube,
            location=resolved.location,
            report=reporter,
            cancel=ctx.stopping,
            labels={k: v for k, v in labels.items() if k.startswith("backupd.io/")},
            volumes=take_volume_snapshots,
        )
    except BackupdError as e:
        _fail(ctx, obj, str(e))
        return
    ctx.res.patch_status(PLURAL, name, backup.status.to_json_dict())
    _finished(ctx, obj, backup)


def _finished(ctx: Context, obj: JSON, backup: Backup) -> None:
    status = backup.status
    phase = status.phase.value
    message = f"{phase}: {status.progress.items_backed_up} items"
    message += f", {len(status.errors)} errors, {len(status.warnings)} warnings"
    if status.failure_reason:
        message += f" ({status.failure_reason})"
    ctx.res.event(obj, f"Backup{phase}", message, warning=status.phase is not Phase.completed)
    log.info("backup %s %s", backup.metadata.name, message)
    m = ctx.metrics
    m.backup_total.labels(result=phase).inc()
    schedule = backup.metadata.labels.get(SCHEDULE_LABEL, "")
    if status.start_timestamp and status.completion_timestamp:
        m.backup_duration.observe(
            (status.completion_timestamp - status.start_timestamp).total_seconds()
        )
    m.backup_items.labels(schedule=schedule).set(status.progress.items_backed_up)
    if status.archive is not None:
        m.backup_bytes.labels(schedule=schedule).set(status.archive.size)
    if status.phase is Phase.completed and status.completion_timestamp:
        m.last_success.labels(schedule=schedule).set(status.completion_timestamp.timestamp())


def fail_interrupted(ctx: Context, plural: str = PLURAL) -> list[str]:
    """Mark every Backup (or Restore) left InProgress Failed, with the reason; never resume."""
    reason = INTERRUPTED.format(when=f"found at start-up {stamp()}")
    marked = []
    for obj in ctx.res.list(plural):
        if phase_of(obj) != Phase.in_progress.value:
            continue
        name = obj["metadata"]["name"]
        status = {"phase": "Failed", "failureReason": reason, "completionTimestamp": stamp()}
        ctx.res.patch_status(plural, name, status)
        ctx.res.event(obj, "Interrupted", reason, warning=True)
        log.warning("%s %s was left InProgress: marked Failed", plural, name)
        marked.append(name)
    return marked
