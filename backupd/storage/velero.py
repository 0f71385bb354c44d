"""Velero's backups in a location: found, read and mapped to backupd's Backup record.

Velero's layout under a location's prefix (its pkg/persistence/object_store_layout.go):

    backups/<name>/velero-backup.json               the Backup CR, written when it ends
    backups/<name>/<name>.tar.gz                    the resources (backupd.archive.velero)
    backups/<name>/<name>-resource-list.json.gz     {"apps/v1/Deployment": ["ns/name"]}
    backups/<name>/<name>-volumesnapshots.json.gz, <name>-logs.gz, ...

A location declared `--format velero` holds only Velero backups and is read-only to
backupd. Any other location also shows a Velero backup found under a name without a
backup.json (detection): `list_velero` and `load_velero` serve backupd.storage.records.

Velero signs nothing: a record is untrusted input, read within size limits and checked
field by field; keys come from the layout and the name, never from the record. A
damaged record is skipped with its reason, like a damaged backupd record.
"""

from __future__ import annotations

import json
import zlib
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
from backupd.errors import (
    ArchiveError,
    BackupdError,
    NotFoundError,
    ReadOnlyLocation,
    UserInputError,
)
from backupd.storage.base import ObjectNotFound
from backupd.storage.layout import KIND_METADATA, validate_name
from backupd.storage.location import Location

VELERO = "velero"
AUTO = "auto"  # backupd's backups, and Velero's found by their layout
FORMATS = ("backupd", VELERO)
METADATA = "velero-backup.json"
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_LIST_BYTES = 64 * 1024 * 1024  # a resource list, compressed and decompressed
VELERO_API = "velero.io/v1"
VELERO_SCHEDULE_LABEL = "velero.io/schedule-name"
_K8S_VERSION = "velero.io/source-cluster-k8s-gitversion"
_PHASES = {
    "Completed": Phase.completed,
    "PartiallyFailed": Phase.partially_failed,
    "Failed": Phase.failed,
    "FailedValidation": Phase.failed,
}
UNSIGNED_WARNING = "backup {name} was written by Velero: it carries no signature to verify"


def parse_format(value: str | None) -> str | None:
    """A location's declared format (None: not declared; the CLI then detects Velero
    backups by their layout, see `Location.format`)."""
    if value is None or value == "":
        return None
    if value.lower() not in FORMATS:
        raise UserInputError(f"unknown location format {value!r}; use {' or '.join(FORMATS)}")
    return value.lower()


def reads_velero(location: Location) -> bool:
    return location.format in (VELERO, AUTO)


def refuse_writes(location: Location, what: str) -> None:
    """ReadOnlyLocation, in one line, for a write to a location of Velero's."""
    if location.format == VELERO:
        raise ReadOnlyLocation(
            f"location {location.url} holds Velero backups (format velero); "
            f"backupd reads them and never writes there: refusing to {what}"
        )


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
    return BackupSpec(
        included_namespaces=_strings(spec.get("includedNamespaces")) or ["*"],
        excluded_namespaces=_strings(spec.get("excludedNamespaces")),
        included_resources=_strings(spec.get("includedResources")) or ["*"],
        excluded_resources=_strings(spec.get("excludedResources")),
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


# -- reading them from a location ----------------------------------------------------


def _json(data: bytes) -> dict[str, Any] | str:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not valid JSON"
    return document if isinstance(document, dict) else "not a JSON object"


def _bounded(location: Location, key: str, limit: int) -> bytes:
    with location.get(key) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError(f"{key} in {location.url} is larger than {limit} bytes")
    return data


def read_resource_list(location: Location, name: str) -> dict[str, Any] | str | None:
    """The backup's resource list; why it is unreadable (str); None if there is none."""
    key = VeleroKeys(name).resource_list
    try:
        packed = _bounded(location, key, MAX_LIST_BYTES)
    except ObjectNotFound:
        return None
    except ArchiveError as e:
        return str(e)
    try:
        return _json(gunzip_bounded(packed, MAX_LIST_BYTES, "it"))
    except ArchiveError as e:
        return str(e)


def _record(location: Location, name: str) -> VeleroBackup | str | None:
    key = VeleroKeys(name).metadata
    document = _json(_bounded(location, key, MAX_RECORD_BYTES))
    if isinstance(document, str):
        return document
    return to_backup(document, name, read_resource_list(location, name))


def velero_names(location: Location) -> tuple[list[str], list[tuple[str, str]]]:
    """Names under backups/ with a velero-backup.json and no backup.json, and the keys
    of those whose name backupd cannot use (with why)."""
    velero: set[str] = set()
    ours: set[str] = set()
    bad: list[tuple[str, str]] = []
    for key in location.iter_keys("backups/"):
        parts = key.split("/")
        if len(parts) != 3:
            continue
        if parts[2] == KIND_METADATA["backups"]:
            ours.add(parts[1])
        elif parts[2] == METADATA:
            try:
                velero.add(validate_name(parts[1], "Velero backup"))
            except UserInputError as e:
                bad.append((key, str(e)))
    return sorted(velero - ours), bad


def list_velero(location: Location) -> tuple[list[VeleroBackup], list[tuple[str, str]]]:
    """Every finished Velero backup of `location`, and (key, why) for each skipped."""
    names, skipped = velero_names(location)
    found: list[VeleroBackup] = []
    for name in names:
        try:
            record = _record(location, name)
        except ObjectNotFound:
            continue  # deleted between list and read
        except ArchiveError as e:
            record = str(e)
        if isinstance(record, str):
            skipped.append((VeleroKeys(name).metadata, record))
        elif record is not None:
            found.append(record)
    return found, skipped


def has_velero(location: Location, name: str) -> bool:
    return location.exists(VeleroKeys(name).metadata)


def load_velero(location: Location, name: str) -> VeleroBackup:
    """The finished Velero backup `name`: NotFoundError if absent or unfinished,
    ArchiveError if its record is damaged."""
    key = VeleroKeys(name).metadata
    try:
        record = _record(location, name)
    except ObjectNotFound:
        raise NotFoundError(f"backup {name} not found in {location.url}") from None
    if record is None:
        raise NotFoundError(f"Velero backup {name} in {location.url} has not finished")
    if isinstance(record, str):
        raise ArchiveError(f"{key} in {location.url} is {record}")
    return record


def gunzip_bounded(data: bytes, limit: int, what: str) -> bytes:
    """Decompress a small gzip object, refusing more than `limit` bytes."""
    try:
        plain = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, limit + 1)
    except zlib.error:
        raise ArchiveError(f"{what} is not valid gzip") from None
    if len(plain) > limit:
        raise ArchiveError(f"{what} decompresses to more than {limit} bytes")
    return plain
