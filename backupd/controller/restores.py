"""Restore resources: a new one runs the restore engine in a worker thread.

The backup is read from the location its Backup resource used (label
backupd.io/location), else from the default location.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from backupd.api.backup import LOCATION_LABEL
from backupd.api.common import Phase
from backupd.api.restore import RestoreSpec
from backupd.cluster.client import JSON
from backupd.controller import jobs
from backupd.controller.context import Context
from backupd.controller.resources import labels_of, phase_of
from backupd.errors import BackupdError
from backupd.restore import engine

PLURAL = "restores"
log = logging.getLogger(__name__)


def on_event(ctx: Context, obj: JSON) -> None:
    name = obj["metadata"]["name"]
    if phase_of(obj) == Phase.new.value and not ctx.stopping.is_set() and ctx.claim(PLURAL, name):
        ctx.workers.submit(run_one, ctx, name)


def _fail(ctx: Context, obj: JSON, reason: str) -> None:
    jobs.fail(ctx, obj, PLURAL, ctx.metrics.restore_total, reason)


def run_one(ctx: Context, name: str) -> None:
    jobs.run_guarded(ctx, PLURAL, name, _run, _fail)


def _location_name(ctx: Context, spec: RestoreSpec) -> str | None:
    if spec.backup_name is None:
        return None
    backup = ctx.res.get("backups", spec.backup_name)
    return labels_of(backup).get(LOCATION_LABEL) if backup else None


def _run(ctx: Context, name: str) -> None:
    obj = ctx.res.get(PLURAL, name)
    if obj is None or phase_of(obj) != Phase.new.value:
        return
    try:
        spec = RestoreSpec.model_validate(obj.get("spec") or {})
        resolved = ctx.locations.resolve(_location_name(ctx, spec))
    except (ValidationError, BackupdError) as e:
        _fail(ctx, obj, f"invalid: {str(e).splitlines()[0]}")
        return
    message = f"restoring from {resolved.name}"
    reporter = jobs.start(ctx, obj, PLURAL, message, done_field="itemsDone")
    try:
        run = engine.run(
            name,
            spec,
            kube=ctx.kube,
            location=resolved.location,
            report=reporter,
            cancel=ctx.stopping,
        )
    except BackupdError as e:
        _fail(ctx, obj, str(e))
        return
    status = run.restore.status
    ctx.res.patch_status(PLURAL, name, status.to_json_dict())
    phase = status.phase.value
    message = f"{phase}: {status.counts.created} created, {status.counts.failed} failed"
    ctx.res.event(obj, f"Restore{phase}", message, warning=status.phase is not Phase.completed)
    ctx.metrics.restore_total.labels(result=phase).inc()
