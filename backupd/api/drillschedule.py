"""DrillSchedule: a restore drill on a cron line, run by the controller (monthly, say).

Each run drills one backup (a named one, or the latest Completed backup of a backup
Schedule) into a throw-away ephemeral cluster or the cluster of a kubeconfig kept in
a Secret, stores the report in the storage location (drills/<name>/), records the
outcome in status and exports it as metrics (backupd_drill_*).
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from backupd.api import API_VERSION
from backupd.api.common import Model, ObjectMeta
from backupd.api.drill import DrillTargetKind, DrillVerdict
from backupd.errors import UserInputError

RUN_NOW = "backupd.io/run-now"  # annotation: a new value runs the drill once, now


class KubeconfigSecretRef(Model):
    """A Secret holding a kubeconfig under `key`; in the controller's namespace unless
    `namespace` says otherwise."""

    name: str
    namespace: str | None = None
    key: str = "kubeconfig"


class DrillScheduleSpec(Model):
    schedule: str  # cron, as a Schedule's
    time_zone: str = "UTC"
    paused: bool = False
    backup_name: str | None = None  # drill this backup every time
    schedule_name: str | None = None  # or the latest Completed backup of this Schedule
    storage_location: str | None = None  # where the backups are and the reports go
    target: DrillTargetKind = DrillTargetKind.ephemeral
    kubeconfig_secret: KubeconfigSecretRef | None = None  # with target Kubeconfig
    context: str | None = None
    ready_timeout: str = "10m"

    @model_validator(mode="after")
    def _one_source_and_a_target(self) -> DrillScheduleSpec:
        if (self.backup_name is None) == (self.schedule_name is None):
            raise UserInputError("give exactly one of spec.backupName and spec.scheduleName")
        wants_secret = self.target is DrillTargetKind.kubeconfig
        if wants_secret != (self.kubeconfig_secret is not None):
            raise UserInputError(
                "spec.kubeconfigSecret goes with target Kubeconfig (and only with it)"
            )
        return self


class DrillSchedulePhase(StrEnum):
    new = "New"
    enabled = "Enabled"
    failed_validation = "FailedValidation"
    paused = "Paused"


class DrillScheduleStatus(Model):
    phase: DrillSchedulePhase = DrillSchedulePhase.new
    running: str | None = None  # the drill in flight
    last_drill: str | None = None
    last_drill_time: datetime.datetime | None = None  # when the last drill finished
    last_verdict: DrillVerdict | None = None
    last_rto_seconds: float | None = None
    last_rpo_seconds: float | None = None
    last_backup: str | None = None
    last_problems: list[str] = Field(default_factory=list)  # why the last drill failed
    last_run_now: str | None = None  # the run-now annotation value last honoured
    validation_errors: list[str] = Field(default_factory=list)


class DrillSchedule(Model):
    """A restore drill the controller runs on a cron schedule."""

    api_version: str = API_VERSION
    kind: Literal["DrillSchedule"] = "DrillSchedule"
    metadata: ObjectMeta
    spec: DrillScheduleSpec
    status: DrillScheduleStatus = Field(default_factory=DrillScheduleStatus)
