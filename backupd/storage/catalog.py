"""The commit protocol, both ways: which backups (restores, drills) exist, and deleting one.

A backup is written data first and its metadata object (`backups/<name>/backup.json`)
last. Only a metadata object that exists and records a final `status.phase` makes a
backup visible; anything else under the prefix is an incomplete write and is ignored.
Because this is read from storage alone, a new cluster pointed at the same bucket sees
every committed backup. Deleting reverses the order: the metadata object goes first,
so a half-deleted backup is never listed. A backup's claim (`storage.claims`) goes
last, so the name stays taken until everything under it is gone; the debris of a
backup that never completed (data objects without a committed metadata object, and
unfinished uploads such as S3 multipart uploads) is deleted the same way. A backup
whose writer is still running on this host is not deleted.

Names: a restore started without a name is called `<backup>-<YYYYMMDDHHMMSS>`, with
`-2`, `-3`... when that is taken.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from backupd.errors import ArchiveError, NotFoundError, UserInputError
from backupd.storage import claims, fanout
from backupd.storage.base import ObjectNotFound, PendingUpload
from backupd.storage.layout import KIND_METADATA, MAX_NAME_LENGTH, metadata_key, validate_name
from backupd.storage.location import Location, ObjectTooLarge
from backupd.storage.velero import METADATA as VELERO_METADATA

FINAL_PHASES = frozenset({"Completed", "PartiallyFailed", "Failed"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    """A stored record that could not be read, and why; the rest of the listing stands."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"skipping {self.key}: {self.reason}"


def _kind(kind: str) -> str:
    if kind not in KIND_METADATA:
        raise UserInputError(f"unknown kind {kind!r}; use {', '.join(KIND_METADATA)}")
    return kind


def phase(document: dict[str, Any]) -> str | None:
    status = document.get("status")
    value = status.get("phase") if isinstance(status, dict) else None
    return value if isinstance(value, str) else None


def is_committed(document: dict[str, Any]) -> bool:
    return phase(document) in FINAL_PHASES


def _parse(data: bytes) -> dict[str, Any] | str:
    """The JSON object in `data`, or why it is not one."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not valid JSON"
    if not isinstance(document, dict):
        return "not a JSON object"
    return document


def _load(location: Location, key: str) -> dict[str, Any]:
    document = _parse(location.get_bytes(key))
    if isinstance(document, str):
        raise ArchiveError(f"{key} in {location.url} is {document}")
    return document


def _scan_names(location: Location, kind: str) -> tuple[list[str], list[Skipped]]:
    filename = KIND_METADATA[_kind(kind)]
    what = kind.rstrip("s")
    names: list[str] = []
    skipped: list[Skipped] = []
    for key in location.iter_keys(f"{kind}/"):
        parts = key.split("/")
        if len(parts) != 3 or parts[2] != filename:
            continue  # data objects and stray keys are not records
        try:
            names.append(validate_name(parts[1], what))
        except UserInputError:
            skipped.append(Skipped(key, f"{parts[1][:80]!r} is not a valid {what} name"))
    return sorted(names), skipped


def committed_names(location: Location, kind: str = "backups") -> list[str]:
    """Names that have a metadata object (committed or not), sorted; reads no object."""
    return _scan_names(location, kind)[0]


def scan_committed(
    location: Location, kind: str = "backups"
) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Every committed metadata document of `kind`, sorted by name, and the damaged
    ones skipped (not JSON, not an object, a bad name or one naming another object).
    Uncommitted (in progress) objects are neither listed nor reported."""
    names, skipped = _scan_names(location, kind)

    def read(name: str) -> dict[str, Any] | str | None:
        key = metadata_key(kind, name)
        try:
            return _parse(location.get_bytes(key))
        except ObjectNotFound:
            return None  # deleted between list and read
        except ObjectTooLarge as e:  # larger than any record
            return f"is larger than {e.limit} bytes"

    documents: list[dict[str, Any]] = []
    read_all = fanout.each(read, names, readers=fanout.readers_for(location))
    for name, document in zip(names, read_all, strict=True):
        key = metadata_key(kind, name)
        if document is None:
            continue
        if isinstance(document, str):
            skipped.append(Skipped(key, document))
            continue
        meta = document.get("metadata")
        recorded = meta.get("name") if isinstance(meta, dict) else None
        if recorded != name:
            shown = recorded[:80] if isinstance(recorded, str) else recorded
            skipped.append(Skipped(key, f"it records the name {shown!r}"))
            continue
        if is_committed(document):
            documents.append(document)
    return documents, sorted(skipped, key=lambda s: s.key)


def list_committed(location: Location, kind: str = "backups") -> list[dict[str, Any]]:
    """Every committed object of `kind` (metadata present, phase final), sorted by name;
    damaged records are logged and left out."""
    documents, skipped = scan_committed(location, kind)
    for s in skipped:
        log.warning("%s", s)
    return documents


def read_committed(location: Location, name: str, kind: str = "backups") -> dict[str, Any]:
    """The metadata of one committed object; NotFoundError if missing or not final."""
    what = _kind(kind).rstrip("s")
    key = metadata_key(kind, validate_name(name, what))
    not_found = f"{what} {name} not found in {location.url}"
    try:
        document = _load(location, key)
    except ObjectNotFound:
        raise NotFoundError(not_found) from None
    if not is_committed(document):
        raise NotFoundError(
            not_found,
            hint=f"its metadata records phase {phase(document) or 'none'}; it was never committed",
        )
    return document


# -- deleting ------------------------------------------------------------------------


@dataclass(frozen=True)
class Deletion:
    """What deleting one backup (restore, drill) removes; `execute` removes it."""

    location: Location
    kind: str
    name: str
    objects: list[str]
    uploads: list[PendingUpload] = field(default_factory=list)

    @property
    def metadata(self) -> str:
        return metadata_key(self.kind, self.name)

    @property
    def claim(self) -> str:
        return claims.claim_key(self.kind, self.name)

    def execute(self) -> int:
        """Delete the metadata object first (the object stops being listed at once),
        then the data, the unfinished uploads, and the claim last; returns how many
        objects and uploads were deleted."""
        if self.metadata in self.objects:
            self.location.delete(self.metadata)
        for key in self.objects:
            if key not in (self.metadata, self.claim):
                self.location.delete(key)
        for upload in self.uploads:
            self.location.abort_upload(upload)
        if self.claim in self.objects:
            self.location.delete(self.claim)
        return len(self.objects) + len(self.uploads)


def _committed(location: Location, key: str, objects: list[str]) -> bool:
    if key not in objects:
        return False
    try:
        document = _parse(location.get_bytes(key))
    except ObjectNotFound:
        return False
    return not isinstance(document, str) and is_committed(document)


def deletion(location: Location, name: str, kind: str = "backups") -> Deletion:
    """Every object and unfinished upload of `<kind>/<name>/`, committed or not;
    NotFoundError if there is none, UserInputError if its writer is still at work."""
    what = _kind(kind).rstrip("s")
    validate_name(name, what)
    prefix = f"{kind}/{name}/"
    objects = location.list(prefix)
    uploads = location.pending_uploads(prefix)
    if not objects and not uploads:
        raise NotFoundError(f"{what} {name} not found in {location.url}")
    ours = metadata_key(kind, name)
    velero_only = f"{prefix}{VELERO_METADATA}" in objects and ours not in objects
    if kind == "backups" and velero_only:
        raise UserInputError(
            f"backup {name} in {location.url} was written by Velero: backupd reads "
            "Velero's backups and never deletes them",
            hint=f"delete it with Velero: velero backup delete {name}",
        )
    if not _committed(location, metadata_key(kind, name), objects):
        holder = claims.read(location, kind, name)
        if holder is not None and holder.owner.alive():
            raise UserInputError(
                f"{what} {name} is still being written ({holder.owner.describe()} since "
                f"{holder.at or 'an unknown time'}); wait for it to finish"
            )
    return Deletion(location, kind, name, objects, uploads)


# -- naming ----------------------------------------------------------------------------


def default_restore_name(backup: str, at: datetime.datetime) -> str:
    """`<backup>-<YYYYMMDDHHMMSS>`, the backup's name shortened to keep it a valid name."""
    stamp = at.strftime("%Y%m%d%H%M%S")
    return f"{backup[: MAX_NAME_LENGTH - len(stamp) - 1].rstrip('-.')}-{stamp}"


def unused_name(location: Location, name: str, kind: str = "restores") -> str:
    """`name`, or `name-2`, `name-3`... if that is taken (two restores in one second)."""
    candidate, n = name, 1
    while location.exists(metadata_key(kind, candidate)):
        n += 1
        candidate = f"{name[: MAX_NAME_LENGTH - len(str(n)) - 1].rstrip('-.')}-{n}"
    return candidate
