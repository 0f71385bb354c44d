"""Backup: what to capture (spec) and what happened (status)."""

from __future__ import annotations

import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import Field

from backupd.api import API_VERSION
from backupd.api.common import Issue, Model, ObjectMeta, Phase, StoredObject

DEFAULT_TTL = "720h"
# Backups made by a schedule carry its name; `restore --from-schedule` looks for it.
SCHEDULE_LABEL = "backupd.io/schedule"
# The controller labels a Backup resource with the StorageLocation it was written to.
LOCATION_LABEL = "backupd.io/location"


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
    # Volume data (backupd.snapshots). None: snapshot every claim whose driver has a
    # VolumeSnapshotClass when the cluster serves any (and warn of the claims that cannot
    # be); True: the same, and a cluster without snapshot classes is warned of too;
    # False: resources only.
    snapshot_volumes: bool | None = None
    # the VolumeSnapshotClass for its driver's claims (default: the driver's default class)
    snapshot_class: str | None = None
    snapshot_timeout: str = "10m"  # how long one snapshot may take to become ready
    snapshot_concurrency: int = Field(default=4, ge=1, le=64)  # snapshots in flight

    def narrowing(self, namespace: str) -> list[str]:
        """Why this spec does not take all of `namespace` ([] if it takes every object)."""
        reasons: list[str] = []
        if any(fnmatchcase(namespace, p) for p in self.excluded_namespaces):
            reasons.append(f"namespace {namespace} is excluded")
        elif not any(fnmatchcase(namespace, p) for p in self.included_namespaces or ["*"]):
            reasons.append(f"namespace {namespace} is not included")
        if self.label_selector:
            reasons.append(f"only objects labelled {self.label_selector}")
        if self.resource_filtered:
            reasons.append(f"only resources {self.resource_scope()}")
        return reasons

    @property
    def resource_filtered(self) -> bool:
        return (self.included_resources or ["*"]) != ["*"] or bool(self.excluded_resources)

    def resource_scope(self) -> str:
        included = ",".join(self.included_resources or ["*"])
        return included + "".join(f",!{r}" for r in self.excluded_resources)

    def scope(self) -> str:
        """What the backup takes, in one line: `ns=shop,!shop-tmp res=deploy sel=app=web`."""
        namespaces = ",".join(self.included_namespaces or ["*"])
        namespaces += "".join(f",!{n}" for n in self.excluded_namespaces)
        parts = [f"ns={namespaces}"]
        if self.resource_filtered:
            parts.append(f"res={self.resource_scope()}")
        if self.label_selector:
            parts.append(f"sel={self.label_selector}")
        return " ".join(parts)


class Progress(Model):
    total_items: int = 0
    items_backed_up: int = 0


class ClusterInfo(Model):
    """The cluster a backup came from.

    `id` is the UID of its kube-system namespace: the same through every kubeconfig
    and address, new when a cluster is rebuilt. `server` is the API server URL it was
    reached at; it tells clusters apart only where an old record has no `id`.
    """

    version: str = ""
    id: str = ""
    server: str = ""

    def same_cluster(self, other: ClusterInfo) -> bool:
        """By UID when both know theirs, else by server URL; False when neither tells."""
        if self.id and other.id:
            return self.id == other.id
        mine, theirs = normalize_server(self.server), normalize_server(other.server)
        return bool(mine) and mine == theirs

    def describe(self) -> str:
        return f"cluster {self.id or '<unknown uid>'} at {self.server or '<unknown server>'}"


def normalize_server(url: str) -> str:
    """An API server URL for comparison: lower case, no trailing slash."""
    return url.strip().rstrip("/").lower()


class SkippedResource(Model):
    resource: str
    reason: str


class Encryption(Model):
    """Client-side encryption of the archive and index (see backupd.trust.envelope):
    the per-backup data key, wrapped by the location's key `key_id`."""

    algorithm: str
    key_id: str
    wrapped_key: str


class Signature(Model):
    """The signature of backup.json over its canonical encoding (backupd.trust.signing)."""

    algorithm: str
    key_id: str
    value: str


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
    encryption: Encryption | None = None
    resource_counts: dict[str, int] = Field(default_factory=dict)
    namespace_counts: dict[str, int] = Field(default_factory=dict)
    volume_snapshots: StoredObject | None = None  # volumesnapshots.json (backupd.snapshots)
    volume_snapshots_attempted: int = 0
    volume_snapshots_completed: int = 0


class Backup(Model):
    api_version: str = API_VERSION
    kind: Literal["Backup"] = "Backup"
    metadata: ObjectMeta
    spec: BackupSpec = Field(default_factory=BackupSpec)
    status: BackupStatus = Field(default_factory=BackupStatus)
    signature: Signature | None = None
