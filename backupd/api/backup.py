"""Backup: what to capture (spec) and what happened (status)."""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from backupd.api import API_VERSION
from backupd.api.common import Issue, Model, ObjectMeta, Phase, StoredObject

DEFAULT_TTL = "720h"
# Backups made by a schedule carry its name; `restore --from-schedule` looks for it.
SCHEDULE_LABEL = "backupd.io/schedule"


class ClusterResources(StrEnum):
    auto = "auto"
    true = "true"
    false = "false"


class BackupSpec(Model):
    included_namespaces: list[str] = Field(default_factory=lambda: ["*"])
    excluded_namespaces: list[str] = Field(default_factory=list)
    included_resources: list[str] = Field(default_factory=lambda: ["*"])
    excluded_resources: list[str] = Field(default_factory=list)
    label_selector: str | None = None
    include_cluster_resources: ClusterResources = ClusterResources.auto
    ttl: str = DEFAULT_TTL
    storage_location: str | None = None
    compression: Literal["gzip", "zstd"] = "gzip"
    snapshot_volumes: bool = False


class Progress(Model):
    total_items: int = 0
    items_backed_up: int = 0


class ClusterInfo(Model):
    version: str = ""
    id: str = ""
    server: str = ""


class SkippedResource(Model):
    resource: str
    reason: str


class BackupStatus(Model):
    phase: Phase = Phase.new
    start_timestamp: datetime.datetime | None = None
    completion_timestamp: datetime.datetime | None = None
    expiration: datetime.datetime | None = None
    progress: Progress = Field(default_factory=Progress)
    cluster: ClusterInfo = Field(default_factory=ClusterInfo)
    errors: list[Issue] = Field(default_factory=list)
    warnings: list[Issue] = Field(default_factory=list)
    skipped_resources: list[SkippedResource] = Field(default_factory=list)
    failure_reason: str | None = None
    archive: StoredObject | None = None
    index: StoredObject | None = None
    log: StoredObject | None = None
    resource_counts: dict[str, int] = Field(default_factory=dict)
    namespace_counts: dict[str, int] = Field(default_factory=dict)


class Backup(Model):
    api_version: str = API_VERSION
    kind: Literal["Backup"] = "Backup"
    metadata: ObjectMeta
    spec: BackupSpec = Field(default_factory=BackupSpec)
    status: BackupStatus = Field(default_factory=BackupStatus)
