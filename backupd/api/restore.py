"""Restore: what to bring back, how (spec), and what happened (status, item results)."""

from __future__ import annotations

import datetime
import re
from enum import StrEnum
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from backupd.api import API_VERSION
from backupd.api.backup import ClusterResources
from backupd.api.common import Issue, Model, ObjectMeta, Phase, parse_duration, reading_stored
from backupd.api.drill import WorkloadReadiness
from backupd.errors import UserInputError
from backupd.kinds.naming import item_where, resource_dir

# Namespaces the cluster itself runs in: a restore maps into them only when told to.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class ExistingResourcePolicy(StrEnum):
    none = "none"
    update = "update"


class Outcome(StrEnum):
    """What happened to one item. In a dry run, created/updated mean "would be"."""

    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    differs = "differs"
    skipped = "skipped"
    failed = "failed"


def check_namespace_name(name: str, what: str) -> str:
    if len(name) > 63 or not _DNS1123_LABEL.fullmatch(name):
        raise UserInputError(
            f"invalid {what} {name[:80]!r}: a namespace name is a DNS-1123 label "
            "(lower case letters, digits and '-', at most 63 characters)"
        )
    return name


def check_storage_class_name(name: str, what: str) -> str:
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        raise UserInputError(
            f"invalid {what} {name[:80]!r}: a storage class name is a DNS-1123 subdomain"
        )
    return name


class RestoreSpec(Model):
    """Exactly one of backup_name and schedule_name names the source."""

    backup_name: str | None = None
    schedule_name: str | None = None
    included_namespaces: list[str] = Field(default_factory=lambda: ["*"])
    excluded_namespaces: list[str] = Field(default_factory=list)
    included_resources: list[str] = Field(default_factory=lambda: ["*"])
    excluded_resources: list[str] = Field(default_factory=list)
    include_cluster_resources: ClusterResources = ClusterResources.auto
    label_selector: str | None = None
    # "<resource>/<name>", e.g. "deployment/web"; namespaced items also need a namespace filter
    include_items: list[str] = Field(default_factory=list)
    namespace_mappings: dict[str, str] = Field(default_factory=dict)
    # mapping a namespace into kube-system, kube-public or kube-node-lease needs this
    allow_system_namespaces: bool = False
    # create objects that grant cluster-wide power (backupd.kinds.privilege); refused without
    allow_privileged: bool = False
    storage_class_mappings: dict[str, str] = Field(default_factory=dict)
    existing_resource_policy: ExistingResourcePolicy = ExistingResourcePolicy.none
    preserve_nodeports: bool = False
    dry_run: bool = False
    # claims that had a snapshot are recreated from it (backupd.restore.volumes)
    restore_volumes: bool = True
    volume_timeout: str = "10m"  # how long to wait for those claims to be Bound
    # EBS: availability zone in the backup -> zone to create the volume in
    zone_mappings: dict[str, str] = Field(default_factory=dict)
    # wait this long (a duration, e.g. 10m) for the restored workloads to be ready; None:
    # do not wait. One that was ready in the backup and is not makes it PartiallyFailed.
    wait_ready: str | None = None

    @field_validator("wait_ready")
    @classmethod
    def _wait(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("namespace_mappings")
    @classmethod
    def _namespaces(cls, value: dict[str, str]) -> dict[str, str]:
        for source, target in value.items():
            check_namespace_name(source, "namespace mapping source")
            check_namespace_name(target, "namespace mapping target")
        if len(set(value.values())) != len(value):
            raise UserInputError("namespace mappings must not map two namespaces to one")
        return value

    @field_validator("storage_class_mappings")
    @classmethod
    def _storage_classes(cls, value: dict[str, str]) -> dict[str, str]:
        for source, target in value.items():
            check_storage_class_name(source, "storage class mapping source")
            check_storage_class_name(target, "storage class mapping target")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> RestoreSpec:
        if (self.backup_name is None) == (self.schedule_name is None):
            raise UserInputError("a restore needs exactly one of a backup or a schedule")
        return self

    @model_validator(mode="after")
    def _no_system_targets(self, info: ValidationInfo) -> RestoreSpec:
        if self.allow_system_namespaces or reading_stored(info):
            return self  # a stored record: what was done is history, not a request
        for source, target in self.namespace_mappings.items():
            if target in SYSTEM_NAMESPACES:
                raise UserInputError(
                    f"namespace mapping {source}:{target} restores into the system namespace "
                    f"{target} (--allow-system-namespaces allows it)"
                )
        return self

    def map_namespace(self, namespace: str) -> str:
        return self.namespace_mappings.get(namespace, namespace)


class Progress(Model):
    total_items: int = 0
    items_done: int = 0


class OutcomeCounts(Model):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    differs: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


class ItemIssue(Issue):
    """A warning or error about one item; `diff` shows how live and backup differ."""

    diff: str | None = None


class RestoredVolume(Model):
    """A claim recreated from a volume snapshot, and how that went."""

    namespace: str
    claim: str
    driver: str
    snapshot_handle: str
    outcome: Literal["Bound", "Failed", "Pending", "Skipped"]
    volume: str | None = None  # the PersistentVolume it is bound to
    message: str | None = None


class RestoreStatus(Model):
    phase: Phase = Phase.new
    backup_name: str | None = None
    start_timestamp: datetime.datetime | None = None
    completion_timestamp: datetime.datetime | None = None
    progress: Progress = Field(default_factory=Progress)
    counts: OutcomeCounts = Field(default_factory=OutcomeCounts)
    warnings: list[ItemIssue] = Field(default_factory=list)
    errors: list[ItemIssue] = Field(default_factory=list)
    failure_reason: str | None = None
    target_server: str = ""
    volumes: list[RestoredVolume] = Field(default_factory=list)
    # with spec.wait_ready: each restored workload, ready or not and why
    workloads: list[WorkloadReadiness] = Field(default_factory=list)


class Restore(Model):
    api_version: str = API_VERSION
    kind: Literal["Restore"] = "Restore"
    metadata: ObjectMeta
    spec: RestoreSpec
    status: RestoreStatus = Field(default_factory=RestoreStatus)


class ItemResult(Model):
    """One item of a restore and its outcome (stored in results.json)."""

    group: str
    version: str
    kind: str
    resource: str
    namespace: str | None = None
    name: str
    outcome: Outcome
    source_namespace: str | None = None
    reason: str | None = None
    diff: str | None = None
    # what the target API server warned of when writing it (e.g. an unknown field dropped)
    warnings: list[str] = Field(default_factory=list)

    @property
    def group_resource(self) -> str:
        return resource_dir(self.resource, self.group)

    def where(self) -> str:
        return item_where(self.group_resource, self.namespace, self.name)
