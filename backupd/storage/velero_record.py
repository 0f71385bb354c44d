"""Velero's records, pure: where it keeps a backup's objects, and its velero-backup.json
mapped to backupd's Backup record (VeleroBackup). No I/O: backupd.storage.velero reads.

Velero's layout under a location's prefix (its pkg/persistence/object_store_layout.go):

    backups/<name>/velero-backup.json               the Backup CR, written when it ends
    backups/<name>/<name>.tar.gz                    the resources (backupd.archive.velero)
    backups/<name>/<name>-resource-list.json.gz     {"apps/v1/Deployment": ["ns/name"]}
    backups/<name>/<name>-volumesnapshots.json.gz, <name>-logs.gz, ...

The mapping keeps what a backupd record says: phase (Completed, PartiallyFailed,
Failed; anything else has not finished), times, scope (namespaces, resources, label
selector, cluster resources), ttl and expiration, counts from the resource list (per
Velero's `group/version/Kind` and per namespace), the source cluster's version, the
schedule (as backupd's schedule label) and where it came from (`source`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError

from backupd.api.backup import (
    SCHEDULE_LABEL,
    Backup,
    BackupSpec,
    BackupStatus,
    ClusterInfo,
    ClusterResources,
    Progress,
)
from backupd.api.common import Issue, Model, ObjectMeta, Phase, format_duration, parse_duration
from backupd.errors import BackupdError, UserInputError
from backupd.storage.layout import validate_name

METADATA = "velero-backup.json"
VELERO_API = "velero.io/v1"
VELERO_SCHEDULE_LABEL = "velero.io/schedule-name"
_K8S_VERSION = "velero.io/source-cluster-k8s-gitversion"
_PHASES = {
    "Completed": Phase.completed,
    "PartiallyFailed": Phase.partially_failed,
    "Failed": Phase.failed,
    "FailedValidation": Phase.failed,
}
# the scoped filters Velero adds to every backup (its CSI snapshots are its own business)
_SNAPSHOT_TYPES = frozenset(
    {"volumesnapshots.snapshot.storage.k8s.io", "volumesnapshotcontents.snapshot.storage.k8s.io"}
)
UNSIGNED_WARNING = "backup {name} was written by Velero: it carries no signature to verify"


@dataclass(frozen=True)
class VeleroKeys:
    """Where Velero keeps one backup's objects; the name is validated first."""

    name: str

    def __post_init__(self) -> None:
        validate_name(self.name, "Velero backup")

    @property
    def prefix(self) -> str:
        return f"backups/{self.name}/"

    @property
    def metadata(self) -> str:
        return self.prefix + METADATA

    @property
    def contents(self) -> str:
        return self.prefix + f"{self.name}.tar.gz"

    @property
    def resource_list(self) -> str:
        return self.prefix + f"{self.name}-resource-list.json.gz"

    @property
    def volume_snapshots(self) -> str:
        return self.prefix + f"{self.name}-volumesnapshots.json.gz"

    @property
    def log(self) -> str:
        return self.prefix + f"{self.name}-logs.gz"


class VeleroSource(Model):
    """Where a Velero backup came from; backupd reads it, never writes it."""

    format: Literal["velero"] = "velero"
    format_version: str = ""
    storage_location: str = ""
    contents: str = ""  # the key of its resources tarball
    signed: bool = False


class VeleroBackup(Backup):
    """A Velero backup as a backupd record; its archive is read by backupd.archive.velero."""

    source: VeleroSource = Field(default_factory=VeleroSource)


def is_velero(backup: Backup) -> bool:
    return isinstance(backup, VeleroBackup)


# -- mapping velero-backup.json (pure) ----------------------------------------------


def _strings(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserInputError("a list of names holds something else")
    return list(value)


def _selector(value: object) -> str | None:
    """A LabelSelector as kubectl spells it: `app=web,tier in (a,b),!legacy`."""
    if not value:
        return None
    if not isinstance(value, dict):
        raise UserInputError("labelSelector is not an object")
    parts = [f"{k}={v}" for k, v in sorted((value.get("matchLabels") or {}).items())]
    for expr in value.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise UserInputError(f"labelSelector operator {str(op)[:40]!r} is unknown")
    return ",".join(parts) or None


def _spec(spec: dict[str, Any]) -> BackupSpec:
    selector = _selector(spec.get("labelSelector"))
    alternatives = [_selector(s) for s in spec.get("orLabelSelectors") or []]
    if any(alternatives):
        selector = " or ".join(s for s in [selector, *alternatives] if s)
    cluster = spec.get("includeClusterResources")
    ttl = spec.get("ttl") or "720h"
    try:
        ttl = format_duration(parse_duration(str(ttl)))
    except UserInputError:
        ttl = str(ttl)[:40]
    scoped = [
        *_strings(spec.get("includedNamespaceScopedResources")),
        *_strings(spec.get("includedClusterScopedResources")),
    ]
    scoped_out = [
        r
        for key in ("excludedNamespaceScopedResources", "excludedClusterScopedResources")
        for r in _strings(spec.get(key))
        if r not in _SNAPSHOT_TYPES  # Velero excludes these from every backup it makes
    ]
    return BackupSpec(
        included_namespaces=_strings(spec.get("includedNamespaces")) or ["*"],
        excluded_namespaces=_strings(spec.get("excludedNamespaces")),
        included_resources=_strings(spec.get("includedResources"))
        or [r for r in scoped if r != "*"]
        or ["*"],
        excluded_resources=_strings(spec.get("excludedResources")) + scoped_out,
        label_selector=selector,
        include_cluster_resources=ClusterResources.auto
        if cluster is None
        else ClusterResources.true
        if cluster is True
        else ClusterResources.false,
        ttl=ttl,
        storage_location=spec.get("storageLocation") or None,
    )


def _counted(count: object, what: str, log: str) -> list[Issue]:
    if isinstance(count, int) and not isinstance(count, bool) and count > 0:
        return [Issue(message=f"Velero recorded {count} {what}(s) in this backup; see {log}")]
    return []


def counts(resource_list: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Items per type (Velero's `group/version/Kind` keys) and per namespace."""
    per_type: Counter[str] = Counter()
    per_namespace: Counter[str] = Counter()
    for gvk, items in resource_list.items():
        if not isinstance(items, list):
            raise UserInputError(f"its entry {str(gvk)[:80]!r} is not a list")
        per_type[str(gvk)[:253]] += len(items)
        for item in items:
            if isinstance(item, str) and "/" in item:
                per_namespace[item.split("/", 1)[0][:63]] += 1
    return dict(sorted(per_type.items())), dict(sorted(per_namespace.items()))


def to_backup(
    document: dict[str, Any], name: str, resource_list: dict[str, Any] | str | None
) -> VeleroBackup | str | None:
    """The record of a Velero backup; why not (str); None if it did not finish."""
    if document.get("apiVersion") != VELERO_API or document.get("kind") != "Backup":
        return "not a Velero backup (apiVersion velero.io/v1, kind Backup)"
    meta, spec, status = (document.get(k) or {} for k in ("metadata", "spec", "status"))
    if not all(isinstance(p, dict) for p in (meta, spec, status)):
        return "its metadata, spec or status is not an object"
    if meta.get("name") != name:
        shown = meta.get("name")
        return f"it records the name {shown[:80] if isinstance(shown, str) else shown!r}"
    phase = _PHASES.get(status.get("phase"))  # type: ignore[arg-type]
    if phase is None:
        return None  # in progress, finalizing or deleting: not a backup to read yet
    keys = VeleroKeys(name)
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    try:
        if not isinstance(labels, dict) or not isinstance(annotations, dict):
            raise UserInputError("its labels or annotations are not an object")
        labels = {str(k)[:317]: str(v)[:63] for k, v in labels.items()}
        if VELERO_SCHEDULE_LABEL in labels:
            labels[SCHEDULE_LABEL] = labels[VELERO_SCHEDULE_LABEL]
        progress = status.get("progress") or {}
        warnings = _counted(status.get("warnings"), "warning", keys.log)
        if isinstance(resource_list, str):
            warnings.append(Issue(message=f"its resource list is unreadable: {resource_list}"))
        per_type, per_namespace = counts(resource_list if isinstance(resource_list, dict) else {})
        record = {
            "metadata": ObjectMeta(
                name=name, creation_timestamp=meta.get("creationTimestamp"), labels=labels
            ),
            "spec": _spec(spec),
            "status": BackupStatus(
                phase=phase,
                start_timestamp=status.get("startTimestamp"),
                completion_timestamp=status.get("completionTimestamp"),
                expiration=status.get("expiration"),
                progress=Progress(
                    total_items=progress.get("totalItems") or 0,
                    items_backed_up=progress.get("itemsBackedUp") or 0,
                ),
                cluster=ClusterInfo(version=str(annotations.get(_K8S_VERSION) or "")[:64]),
                errors=_counted(status.get("errors"), "error", keys.log),
                warnings=warnings,
                failure_reason=status.get("failureReason") or None,
                resource_counts=per_type,
                namespace_counts=per_namespace,
            ),
            "source": VeleroSource(
                format_version=str(status.get("formatVersion") or "")[:20],
                storage_location=str(spec.get("storageLocation") or "")[:63],
                contents=keys.contents,
            ),
        }
        return VeleroBackup.model_validate(record)
    except (ValidationError, BackupdError, TypeError, AttributeError) as e:
        detail = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
        return f"not a valid Velero backup record: {detail[:200]}"
