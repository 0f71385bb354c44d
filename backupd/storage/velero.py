"""Velero's backups in a location: found and read (the record's mapping is pure, in
backupd.storage.velero_record).

A location declared `--format velero` holds only Velero backups and is read-only to
backupd. Any other location read by the CLI (format "auto") also shows a Velero backup
found under a name without a backup.json (detection): `list_velero` and `load_velero`
serve backupd.storage.records.

Velero signs nothing: a record is untrusted input, read within size limits and checked
field by field; keys come from the layout and the name, never from the record. A
damaged record is skipped with its reason, like a damaged backupd record. Where a
location accepts only signed backups, a Velero backup found by detection is refused
(TrustError; skipped when listing): declaring the location `--format velero` (or
--allow-unsigned) says Velero's unsigned backups are expected there.
"""

from __future__ import annotations

import json
from typing import Any

from backupd.errors import (
    ArchiveError,
    NotFoundError,
    ReadOnlyLocation,
    TrustError,
    UserInputError,
)
from backupd.storage import fanout
from backupd.storage.base import ObjectNotFound
from backupd.storage.layout import KIND_METADATA, validate_name
from backupd.storage.location import Location
from backupd.storage.streams import gunzip_bounded
from backupd.storage.velero_record import METADATA as METADATA
from backupd.storage.velero_record import UNSIGNED_WARNING as UNSIGNED_WARNING
from backupd.storage.velero_record import VeleroBackup as VeleroBackup
from backupd.storage.velero_record import VeleroKeys as VeleroKeys
from backupd.storage.velero_record import is_velero as is_velero
from backupd.storage.velero_record import to_backup

VELERO = "velero"
AUTO = "auto"  # backupd's backups, and Velero's found by their layout
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_LIST_BYTES = 64 * 1024 * 1024  # a resource list, compressed and decompressed


def reads_velero(location: Location) -> bool:
    return location.format in (VELERO, AUTO)


def refuse_writes(location: Location, what: str) -> None:
    """ReadOnlyLocation, in one line, for a write to a location of Velero's."""
    if location.format == VELERO:
        raise ReadOnlyLocation(
            f"location {location.url} holds Velero backups (format velero); "
            f"backupd reads them and never writes there: refusing to {what}"
        )


# -- reading them from a location ----------------------------------------------------


def _json(data: bytes) -> dict[str, Any] | str:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not valid JSON"
    return document if isinstance(document, dict) else "not a JSON object"


def read_resource_list(location: Location, name: str) -> dict[str, Any] | str | None:
    """The backup's resource list; why it is unreadable (str); None if there is none."""
    key = VeleroKeys(name).resource_list
    try:
        packed = location.get_bytes(key, limit=MAX_LIST_BYTES)
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
    document = _json(location.get_bytes(key, limit=MAX_RECORD_BYTES))
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


def check_unsigned(location: Location, name: str) -> None:
    """TrustError where the location accepts only signed backups and was not declared
    to hold Velero's (a Velero backup found there could have been put by anyone)."""
    if location.format != VELERO and location.keyring.requires_signature:
        raise TrustError(
            f"backup {name} was written by Velero and is not signed, and this location "
            "accepts only signed backups",
            hint="add the location with --format velero to read Velero's backups, "
            "or pass --allow-unsigned",
        )


def list_velero(location: Location) -> tuple[list[VeleroBackup], list[tuple[str, str]]]:
    """Every finished Velero backup of `location`, and (key, why) for each skipped."""
    names, skipped = velero_names(location)

    def read(name: str) -> VeleroBackup | str | None:
        try:
            check_unsigned(location, name)
            return _record(location, name)
        except ObjectNotFound:
            return None  # deleted between list and read
        except (ArchiveError, TrustError) as e:
            return str(e)

    found: list[VeleroBackup] = []
    read_all = fanout.each(read, names, readers=fanout.readers_for(location))
    for name, record in zip(names, read_all, strict=True):
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
    check_unsigned(location, name)
    try:
        record = _record(location, name)
    except ObjectNotFound:
        raise NotFoundError(f"backup {name} not found in {location.url}") from None
    if record is None:
        raise NotFoundError(f"Velero backup {name} in {location.url} has not finished")
    if isinstance(record, str):
        raise ArchiveError(f"{key} in {location.url} is {record}")
    return record
