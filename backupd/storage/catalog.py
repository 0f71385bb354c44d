"""The reading side of the commit protocol: which backups (restores, drills) exist.

A backup is written data first and its metadata object (`backups/<name>/backup.json`)
last. Only a metadata object that exists and records a final `status.phase` makes a
backup visible; anything else under the prefix is an incomplete write and is ignored.
Because this is read from storage alone, a new cluster pointed at the same bucket sees
every committed backup.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from backupd.errors import ArchiveError, NotFoundError, UserInputError
from backupd.storage.base import ObjectNotFound
from backupd.storage.layout import KIND_METADATA, metadata_key, validate_name
from backupd.storage.location import Location

FINAL_PHASES = frozenset({"Completed", "PartiallyFailed", "Failed"})

log = logging.getLogger(__name__)


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


def _load(location: Location, key: str) -> dict[str, Any]:
    data = location.get_bytes(key)
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArchiveError(f"{key} in {location.url} is not valid JSON") from None
    if not isinstance(document, dict):
        raise ArchiveError(f"{key} in {location.url} is not a JSON object")
    return document


def committed_names(location: Location, kind: str = "backups") -> list[str]:
    """Names that have a metadata object (committed or not), sorted; reads no object."""
    filename = KIND_METADATA[_kind(kind)]
    names: list[str] = []
    for key in location.iter_keys(f"{kind}/"):
        parts = key.split("/")
        if len(parts) != 3 or parts[2] != filename:
            continue
        try:
            names.append(validate_name(parts[1], kind.rstrip("s")))
        except UserInputError:
            log.warning("ignoring %s: not a valid %s name", key, kind.rstrip("s"))
    return sorted(names)


def list_committed(location: Location, kind: str = "backups") -> list[dict[str, Any]]:
    """Every committed object of `kind` (metadata present, phase final), sorted by name."""
    documents: list[dict[str, Any]] = []
    for name in committed_names(location, kind):
        key = metadata_key(kind, name)
        try:
            document = _load(location, key)
        except ObjectNotFound:
            continue  # deleted between list and read
        except ArchiveError as e:
            log.warning("ignoring %s", e)
            continue
        recorded = (
            document.get("metadata", {}).get("name")
            if isinstance(document.get("metadata"), dict)
            else None
        )
        if recorded != name:
            log.warning("ignoring %s: it records the name %r", key, recorded)
            continue
        if is_committed(document):
            documents.append(document)
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
