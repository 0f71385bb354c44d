"""What the Backup and the Restore workers share: the failure record and the guard around a run.

A run that fails records phase Failed with the reason, a warning Event <Kind>Failed and
the Failed count of its metric. A run that raises anything unexpected (a bug, a lost API
server) is recorded Failed too, so that it never stays InProgress for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter

from backupd.cluster.client import JSON
from backupd.controller.context import Context
from backupd.controller.reporting import StatusReporter
from backupd.controller.resources import phase_of, stamp
from backupd.errors import BackupdError

log = logging.getLogger(__name__)


def fail(ctx: Context, obj: JSON, plural: str, total: Counter, reason: str) -> None:
    """Record `obj` (a Backup or Restore) Failed with `reason`: status, Event and metric."""
    name = obj["metadata"]["name"]
    kind = plural.removesuffix("s")
    log.warning("%s %s failed: %s", kind, name, reason)
    status = {"phase": "Failed", "failureReason": reason, "completionTimestamp": stamp()}
    ctx.res.patch_status(plural, name, status)
    ctx.res.event(obj, f"{kind.capitalize()}Failed", reason, warning=True)
    total.labels(result="Failed").inc()


def start(ctx: Context, obj: JSON, plural: str, message: str, done_field: str) -> StatusReporter:
    """Mark `obj` InProgress with an Event <Kind>Started saying `message`; the reporter that
    writes its progress (`done_field` of status.progress) from now on."""
    name = obj["metadata"]["name"]
    ctx.res.patch_status(plural, name, {"phase": "InProgress", "startTimestamp": stamp()})
    ctx.res.event(obj, f"{plural.removesuffix('s').capitalize()}Started", message)
    return StatusReporter(
        ctx.res, plural, name, done_field=done_field, interval=ctx.progress_interval
    )


def run_guarded(
    ctx: Context,
    plural: str,
    name: str,
    run: Callable[[Context, str], None],
    on_failure: Callable[[Context, JSON, str], None],
) -> None:
    """`run(ctx, name)`; anything unexpected it raises marks the resource Failed."""
    kind = plural.removesuffix("s")
    try:
        run(ctx, name)
    except Exception as e:
        # a bug or a lost API server must not leave the resource InProgress for ever
        log.exception("%s %s: unexpected error", kind, name)
        try:
            obj = ctx.res.get(plural, name)
            if obj is not None and phase_of(obj) in ("New", "InProgress"):
                on_failure(ctx, obj, f"unexpected error: {type(e).__name__}: {e}")
        except BackupdError as again:
            log.error("%s %s: cannot record the failure: %s", kind, name, again)
    finally:
        ctx.done(plural, name)
