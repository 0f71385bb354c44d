"""Schedule: a cron line, a time zone and a Backup template; the controller runs it."""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from backupd.api import API_VERSION
from backupd.api.backup import BackupSpec
from backupd.api.common import Model, ObjectMeta


class RunMissed(StrEnum):
    """What a run missed while the controller was down becomes: one run, or nothing."""

    once = "Once"
    skip = "Skip"


class Retention(Model):
    """Keep-last-N and grandfather-father-son on top of each backup's TTL.

    Unset everywhere: only the TTL expires backups. Otherwise a backup of the schedule
    is kept while any rule keeps it (see backupd.backup.retention)."""

    keep_last: int | None = Field(default=None, ge=1)
    keep_daily: int | None = Field(default=None, ge=1)
    keep_weekly: int | None = Field(default=None, ge=1)
    keep_monthly: int | None = Field(default=None, ge=1)

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly)
        )


class ScheduleSpec(Model):
    schedule: str
    time_zone: str = "UTC"
    paused: bool = False
    template: BackupSpec = Field(default_factory=BackupSpec)
    use_owner_references_in_backup: bool = False
    retention: Retention = Field(default_factory=Retention)
    run_missed: RunMissed = RunMissed.once


class SchedulePhase(StrEnum):
    new = "New"
    enabled = "Enabled"
    failed_validation = "FailedValidation"
    paused = "Paused"


class SkippedRun(Model):
    """A run that did not happen, when and why."""

    time: datetime.datetime
    reason: str


class ScheduleStatus(Model):
    phase: SchedulePhase = SchedulePhase.new
    last_backup: str | None = None
    last_backup_time: datetime.datetime | None = None
    last_skipped: SkippedRun | None = None
    skipped_runs: int = 0
    validation_errors: list[str] = Field(default_factory=list)


class Schedule(Model):
    api_version: str = API_VERSION
    kind: Literal["Schedule"] = "Schedule"
    metadata: ObjectMeta
    spec: ScheduleSpec
    status: ScheduleStatus = Field(default_factory=ScheduleStatus)
