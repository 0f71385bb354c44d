"""Drill: restore a backup into a throw-away cluster and prove the app comes back.

The result (DrillReport) is what `backupctl drill run` stores under `drills/<name>/` in the
location (report.json, report.md, report.html) and what `drill get/describe/report` and
the controller's metrics read back. Readiness of one restored workload is a
WorkloadReadiness, shared with `restore create --wait-ready`.
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator

from backupd.api import API_VERSION
from backupd.api.common import Model, ObjectMeta, parse_duration


class DrillVerdict(StrEnum):
    passed = "Passed"
    failed = "Failed"


class DrillTargetKind(StrEnum):
    ephemeral = "Ephemeral"  # a local control plane with fake nodes, started and torn down
    kubeconfig = "Kubeconfig"  # a real temporary cluster given by a kubeconfig


class DrillSpec(Model):
    """What to drill: exactly one of a backup or a schedule's latest backup."""

    backup_name: str | None = None
    schedule_name: str | None = None
    target: DrillTargetKind = DrillTargetKind.ephemeral
    kubeconfig: str | None = None  # with target Kubeconfig: a path (CLI) or secret:NS/NAME
    context: str | None = None
    ready_timeout: str = "10m"  # how long workloads may take to become ready

    @field_validator("ready_timeout")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # UserInputError: "invalid duration ..."
        return value


class WorkloadReadiness(Model):
    """One restored workload: ready or not, and why not (from its status and Events)."""

    kind: str  # Deployment, StatefulSet, DaemonSet, Job, PersistentVolumeClaim, Service, ...
    namespace: str | None = None
    name: str
    ready: bool
    was_ready: bool = True  # ready in the backup; a not-ready one that was not is no failure
    reason: str | None = None  # one line: what is stuck ("0/3 available: quota exceeded ...")
    events: list[str] = Field(default_factory=list)  # the Events of what is stuck, newest last
    seconds_to_ready: float | None = None  # from the start of the readiness wait


class NamespaceAccount(Model):
    """Per namespace: every item of the backup accounted for."""

    namespace: str  # "" for cluster-scoped items
    items: int = 0  # items of the backup in this namespace
    created: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    workloads: int = 0
    workloads_ready: int = 0


class DrillProblem(Model):
    """Why the drill failed, in a person's words, naming the piece and what it blocks."""

    message: str  # e.g. "PriorityClass high is not in the backup"
    blocks: str | None = None  # e.g. "deployment shop/web"
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None


class TimelineEntry(Model):
    at: datetime.datetime
    step: Literal["start", "verify", "cluster", "restore", "readiness", "report", "teardown", "end"]
    message: str


class DrillTimes(Model):
    """RTO and RPO in seconds. RTO = start to all-ready; RPO = backup age at the start."""

    rto_seconds: float | None = None  # None when the app never came back
    restore_seconds: float = 0.0
    readiness_seconds: float = 0.0
    verify_seconds: float = 0.0
    cluster_seconds: float = 0.0  # starting the ephemeral cluster (not part of the RTO)
    rpo_seconds: float = 0.0


class DrillReport(Model):
    api_version: str = API_VERSION
    kind: Literal["DrillReport"] = "DrillReport"
    metadata: ObjectMeta
    spec: DrillSpec
    verdict: DrillVerdict
    backup_name: str  # the backup actually drilled (resolved from a schedule if need be)
    backup_completed: datetime.datetime | None = None
    started: datetime.datetime
    finished: datetime.datetime
    target_server: str = ""  # the API server restored into
    verified: bool = False  # signature and digests checked before the restore
    verify_message: str | None = None
    times: DrillTimes = Field(default_factory=DrillTimes)
    problems: list[DrillProblem] = Field(default_factory=list)
    namespaces: list[NamespaceAccount] = Field(default_factory=list)
    workloads: list[WorkloadReadiness] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    restore_counts: dict[str, int] = Field(default_factory=dict)  # outcome -> count
    # the restore the drill ran (restores/<name>/ holds every item's result), if it ran
    restore_name: str | None = None
    notices: list[str] = Field(default_factory=list)  # e.g. "backup x records no source cluster"

    @property
    def passed(self) -> bool:
        return self.verdict == DrillVerdict.passed
