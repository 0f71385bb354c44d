"""Schedule resources: APScheduler fires each one; a run creates a Backup resource.

- A run creates `<schedule>-<YYYYMMDDHHMMSS>` labelled backupd.io/schedule=<schedule>
  with the schedule's template as its spec; the Backup controller runs it.
- A run is skipped while a Backup of the schedule is New or InProgress: the skip is
  recorded in status.lastSkipped (and skippedRuns), as an Event and a metric.
- Paused: no job. An invalid cron line or time zone: FailedValidation with the reason.
- The first time this process sees a schedule, a run missed since its last backup
  (or its creation) is run once, not once per missed time, unless runMissed is Skip
  or the controller was started with --no-run-missed.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from pydantic import ValidationError

from backupd.api.backup import SCHEDULE_LABEL
from backupd.api.common import Phase, now
from backupd.api.schedule import RunMissed, ScheduleSpec
from backupd.backup import cron
from backupd.cluster.client import JSON
from backupd.controller.context import Context
from backupd.controller.resources import parse_stamp, phase_of, stamp
from backupd.errors import BackupdError, ClusterConflict

PLURAL = "schedules"
RUNNING = frozenset({Phase.new.value, Phase.in_progress.value})
log = logging.getLogger(__name__)


class CronResources:
    """The APScheduler bookkeeping shared by Schedules and DrillSchedules
    (backupd.controller.drills): one job per resource, named after it, and the last
    spec seen of each, to tell a spec change from a status change."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.scheduler = BackgroundScheduler(
            timezone=datetime.UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)

    def jobs(self) -> list[str]:
        return sorted(j.id for j in self.scheduler.get_jobs())

    def _remove(self, name: str) -> None:
        if self.scheduler.get_job(name) is not None:
            self.scheduler.remove_job(name)


class Schedules(CronResources):
    def __init__(self, ctx: Context, *, run_missed: bool = True) -> None:
        super().__init__(ctx)
        self.run_missed = run_missed

    # -- watch events ----------------------------------------------------------------
    def on_event(self, event_type: str | None, obj: JSON) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            with self._lock:
                self._known.pop(name, None)
            self._remove(name)
            return
        key = json.dumps(obj.get("spec"), sort_keys=True)
        with self._lock:
            if self._known.get(name) == key:
                return  # a status change (ours): nothing to reschedule
            first = name not in self._known
            self._known[name] = key
        self.sync(obj, first=first)

    def _status(self, obj: JSON, status: dict[str, Any]) -> None:
        try:
            self.ctx.res.patch_status(PLURAL, obj["metadata"]["name"], status)
        except BackupdError as e:
            log.warning("status of schedule %s not updated: %s", obj["metadata"]["name"], e)

    def sync(self, obj: JSON, *, first: bool = False) -> None:
        name = obj["metadata"]["name"]
        try:
            spec = ScheduleSpec.model_validate(obj.get("spec") or {})
            trig = cron.trigger(spec.schedule, spec.time_zone)
        except (ValidationError, BackupdError) as e:
            reason = str(e).splitlines()[0] if isinstance(e, BackupdError) else spec_error(e)
            self._remove(name)
            self._status(obj, {"phase": "FailedValidation", "validationErrors": [reason]})
            self.ctx.res.event(obj, "FailedValidation", reason, warning=True)
            log.warning("schedule %s is invalid: %s", name, reason)
            return
        if spec.paused:
            self._remove(name)
            self._status(obj, {"phase": "Paused", "validationErrors": []})
            self.ctx.res.event(obj, "Paused", "no backups until unpaused")
            return
        self.scheduler.add_job(self.fire, trig, id=name, args=[name], replace_existing=True)
        self._status(obj, {"phase": "Enabled", "validationErrors": []})
        log.info("schedule %s enabled: %r in %s", name, spec.schedule, spec.time_zone)
        if first and self.run_missed and spec.run_missed is RunMissed.once:
            status = obj.get("status") or {}
            last = parse_stamp(status.get("lastBackupTime")) or parse_stamp(
                obj["metadata"].get("creationTimestamp")
            )
            missed = cron.missed_run(trig, last, now()) if last else None
            if missed is not None:
                log.info("schedule %s missed its run of %s: running it once now", name, missed)
                self.scheduler.add_job(self.fire, args=[name, missed], id=f"{name}--missed")

    # -- a run -----------------------------------------------------------------------
    def fire(self, name: str, missed: datetime.datetime | None = None) -> str | None:
        """Create the run's Backup, or record why not; returns the Backup's name."""
        try:
            return self._fire(name, missed)
        except BackupdError as e:
            log.error("schedule %s: run failed to start: %s", name, e)
        except Exception:
            log.exception("schedule %s: unexpected error", name)
        return None

    def _fire(self, name: str, missed: datetime.datetime | None) -> str | None:
        res = self.ctx.res
        obj = res.get(PLURAL, name)
        if obj is None or self.ctx.stopping.is_set():
            return None
        spec = ScheduleSpec.model_validate(obj.get("spec") or {})
        if spec.paused:
            return None
        at = now()
        running = [
            b["metadata"]["name"]
            for b in res.list("backups", label_selector=f"{SCHEDULE_LABEL}={name}")
            if phase_of(b) in RUNNING
        ]
        if running:
            self._skip(obj, at, f"backup {', '.join(sorted(running))} is still in progress")
            return None
        backup = cron.backup_name(name, at)
        meta: dict[str, Any] = {"name": backup, "labels": {SCHEDULE_LABEL: name}}
        if spec.use_owner_references_in_backup:
            meta["ownerReferences"] = [
                {
                    "apiVersion": obj["apiVersion"],
                    "kind": "Schedule",
                    "name": name,
                    "uid": obj["metadata"]["uid"],
                }
            ]
        try:
            res.create("backups", {"metadata": meta, "spec": spec.template.to_json_dict()})
        except ClusterConflict:
            self._skip(obj, at, f"backup {backup} already exists")
            return None
        why = f" (the missed run of {stamp(missed)})" if missed else ""
        res.event(obj, "BackupCreated", f"created backup {backup}{why}")
        self._status(obj, {"lastBackup": backup, "lastBackupTime": stamp(at)})
        log.info("schedule %s: created backup %s%s", name, backup, why)
        return backup

    def _skip(self, obj: JSON, at: datetime.datetime, reason: str) -> None:
        name = obj["metadata"]["name"]
        count = int((obj.get("status") or {}).get("skippedRuns") or 0) + 1
        self._status(
            obj, {"lastSkipped": {"time": stamp(at), "reason": reason}, "skippedRuns": count}
        )
        self.ctx.res.event(obj, "RunSkipped", f"run skipped: {reason}", warning=True)
        self.ctx.metrics.schedule_skips.labels(schedule=name).inc()
        log.warning("schedule %s: run skipped: %s", name, reason)


def spec_error(e: ValidationError) -> str:
    """The first error of a resource's spec, as `spec.FIELD: message`."""
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"spec.{where}: {first['msg']}" if where else str(first["msg"])
