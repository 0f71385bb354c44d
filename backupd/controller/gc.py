"""The garbage collector: expired backups leave their location, then the cluster.

Which backups expire is backupd.backup.retention's pure decision (each backup's TTL,
its schedule's keep-last-N and GFS rules). Each is deleted as `backup delete` does:
its volume snapshots are recorded (backupd.snapshots.deletion), the backup is deleted
by the shared delete protocol (backupd.storage.catalog: the metadata object first, so
a half-deleted backup is never listed), then the recorded snapshots (those that
cannot go yet stay recorded and are retried), and only then is its Backup resource
deleted.

A backup that cannot be deleted yet (a ReadOnly location, an unreachable one, an
object under retention lock) keeps its resource, annotated backupd.io/deletion-pending
with the reason, and is tried again on every pass: it is never lost track of.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from zoneinfo import ZoneInfoNotFoundError

from pydantic import ValidationError

from backupd.api.backup import LOCATION_LABEL, SCHEDULE_LABEL
from backupd.api.common import Phase, now
from backupd.api.schedule import Retention, ScheduleSpec
from backupd.backup.retention import Candidate, Expired, expired
from backupd.cluster.client import JSON
from backupd.controller.context import Context
from backupd.controller.resources import (
    DELETION_PENDING,
    annotations_of,
    labels_of,
    parse_stamp,
    phase_of,
)
from backupd.errors import ArchiveError, BackupdError, NotFoundError
from backupd.snapshots import deletion as snapshot_deletion
from backupd.storage import records
from backupd.storage.catalog import deletion
from backupd.storage.location import Location

log = logging.getLogger(__name__)


def candidate(obj: JSON) -> Candidate:
    status = obj.get("status") or {}
    meta = obj["metadata"]
    created = parse_stamp(status.get("startTimestamp")) or parse_stamp(
        meta.get("creationTimestamp")
    )
    try:
        phase = Phase(phase_of(obj))
    except ValueError:
        phase = Phase.new  # unknown: treat as running, never delete
    return Candidate(
        name=meta["name"],
        created=created or now(),
        phase=phase,
        expiration=parse_stamp(status.get("expiration")),
    )


def rules_of(schedules: list[JSON]) -> dict[str, tuple[Retention, str]]:
    """Schedule name -> (retention, time zone), for the schedules whose spec is valid."""
    rules: dict[str, tuple[Retention, str]] = {}
    for obj in schedules:
        try:
            spec = ScheduleSpec.model_validate(obj.get("spec") or {})
        except (ValidationError, BackupdError):
            continue
        rules[obj["metadata"]["name"]] = (spec.retention, spec.time_zone)
    return rules


def plan(backups: list[JSON], schedules: list[JSON], at: datetime.datetime) -> list[Expired]:
    """Which Backup resources expire at `at` and why: each schedule's backups under its
    retention and time zone, the others by their TTL only. Pure."""
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for obj in backups:
        groups[labels_of(obj).get(SCHEDULE_LABEL, "")].append(candidate(obj))
    rules = rules_of(schedules)
    out: list[Expired] = []
    for schedule, members in sorted(groups.items()):
        retention, tz = rules.get(schedule, (None, "UTC"))
        try:
            out += expired(members, at, retention, tz)
        except (ZoneInfoNotFoundError, ValueError) as e:  # a bad zone: the TTL still applies
            log.warning("schedule %s: retention not applied: %s", schedule, e)
            out += expired(members, at)
    return out


class Collector:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def run_once(self) -> list[str]:
        """One pass; returns the names of the backups deleted."""
        backups = self.ctx.res.list("backups")
        by_name = {b["metadata"]["name"]: b for b in backups}
        deleted = []
        for e in plan(backups, self.ctx.res.list("schedules"), now()):
            if self.ctx.stopping.is_set():
                break
            if self._delete(by_name[e.name], e.reason):
                deleted.append(e.name)
        return deleted

    def _delete(self, obj: JSON, reason: str) -> bool:
        name = obj["metadata"]["name"]
        location_name = labels_of(obj).get(LOCATION_LABEL)
        if location_name is not None:
            try:
                resolved = self.ctx.locations.resolve(location_name)
                if resolved.location.read_only:
                    self._pending(obj, f"location {location_name} is ReadOnly")
                    return False
                self._remember_snapshots(resolved.location, name)
                deletion(resolved.location, name).execute()
                self._delete_snapshots(resolved.location)
            except NotFoundError:
                pass  # nothing stored (or the location is gone): only the resource is left
            except BackupdError as e:
                self._pending(obj, f"{reason}, but deleting it failed: {e}")
                return False
        self.ctx.res.delete("backups", name)
        self.ctx.metrics.gc_deletions.labels(result="deleted").inc()
        log.info("deleted backup %s: %s", name, reason)
        return True

    def _remember_snapshots(self, location: Location, name: str) -> None:
        """Before the backup goes, its volume snapshots are recorded (pending-deletions/)."""
        try:
            snapshot_deletion.remember(location, records.load_backup(location, name))
        except NotFoundError:
            pass  # never committed: it recorded no snapshots
        except ArchiveError as e:
            log.warning("the volume snapshots of backup %s cannot be read: %s", name, e)

    def _delete_snapshots(self, location: Location) -> None:
        """After the backup is gone (never a backup pointing at deleted data), the recorded
        snapshots go; those that cannot go yet stay recorded and are retried every pass."""
        outcome = snapshot_deletion.retry_pending(location, kube=lambda: self.ctx.kube)
        for why in outcome.left:
            log.warning("volume snapshot not deleted yet (recorded, retried): %s", why)

    def _pending(self, obj: JSON, why: str) -> None:
        name = obj["metadata"]["name"]
        self.ctx.metrics.gc_deletions.labels(result="failed").inc()
        log.warning("backup %s kept for now: %s", name, why)
        if annotations_of(obj).get(DELETION_PENDING) == why:
            return  # said already; tried again every pass
        patch = {"metadata": {"annotations": {DELETION_PENDING: why[:500]}}}
        try:
            self.ctx.res.patch("backups", name, patch)
        except BackupdError as e:
            log.warning("backup %s: %s", name, e)
        self.ctx.res.event(obj, "DeletionPending", why, warning=True)
