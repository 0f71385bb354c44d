"""Verify stored backups without restoring them: is each one exactly what was backed up?

    record      backup.json loads: its signature (backupd.storage.records, with the
                location's keys) and its object keys match the layout
    signature   `check_signature`, a hook for further checks of the record (none by
                default: loading the record already checked its signature)
    index       the stored index: its sha256, every entry valid, within the limits
    archive     its sha256, and exactly the indexed members: no duplicate, nothing
                missing or extra, each of its indexed size and sha256, the inner index
                equal to the stored one (backupd.archive.reader)
    objects     with `read_data`: every object parsed, and it is the object its entry names

The same reader serves restore, so a backup that verifies is one a restore accepts.
Each backup stops at its first problem; a verdict lists what was checked and why it
failed, one line per problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from backupd.api.backup import Backup
from backupd.archive.format import IndexEntry
from backupd.archive.reader import parse_object
from backupd.archive.stored import opened
from backupd.errors import BackupdError, UserInputError
from backupd.storage import records
from backupd.storage.location import Location
from backupd.storage.velero import is_velero

SignatureCheck = Callable[[Location, Backup], None]


def records_check_signatures(location: Location, backup: Backup) -> None:
    """The default hook: nothing more to check. Loading the record through
    backupd.storage.records has already verified its signature with the location's
    keys (TrustError), so a forged backup.json never reaches this point."""


@dataclass
class Verdict:
    """What verifying one backup found."""

    name: str
    phase: str = ""
    items: int = 0
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "verified": self.ok,
            "items": self.items,
            "checked": self.checked,
            "problems": self.problems,
        }


def _check_data(entry: IndexEntry, data: bytes, source: str) -> None:
    parse_object(entry, data, source)


def verify_backup(
    location: Location,
    backup: Backup,
    *,
    read_data: bool = False,
    check_signature: SignatureCheck = records_check_signatures,
) -> Verdict:
    """Check one loaded backup; problems are collected, never raised."""
    name = backup.metadata.name
    verdict = Verdict(name, backup.status.phase.value, checked=["record"])
    try:
        if check_signature is not records_check_signatures:
            check_signature(location, backup)
            verdict.checked.append("signature")
        if backup.status.archive is None and not is_velero(backup):  # Velero's: its tarball
            verdict.checked.append("nothing stored")  # a Failed backup holds no archive
            return verdict
        with opened(location, backup) as stored:  # the stored index, loaded and checked
            verdict.items = len(stored.entries)
            verdict.checked.append("index")
            source = f"backup {name}"
            keep = (lambda e, d: _check_data(e, d, source)) if read_data else _nothing
            stored.reader.scan(keep)
        verdict.checked.append("archive")
        if read_data:
            verdict.checked.append("objects")
    except BackupdError as e:
        verdict.problems.append(str(e))
    return verdict


def _nothing(_entry: IndexEntry, _data: bytes) -> None:
    pass


def verify(
    location: Location,
    names: Iterable[str],
    *,
    every: bool = False,
    read_data: bool = False,
    check_signature: SignatureCheck = records_check_signatures,
) -> list[Verdict]:
    """Verdicts for the backups `names` (or, with `every`, each committed backup and each
    damaged record, which fails)."""
    wanted = list(names)
    if every == bool(wanted):
        raise UserInputError("name the backups to verify, or pass --all (not both)")
    verdicts: list[Verdict] = []
    if every:
        listing = records.list_backups(location)
        verdicts += [Verdict(s.key, problems=[s.reason]) for s in listing.skipped]
        backups: list[Backup | str] = list(listing.records)
    else:
        backups = list(wanted)
    for item in backups:
        if isinstance(item, str):
            try:
                backup = records.load_backup(location, item)
            except BackupdError as e:
                verdicts.append(Verdict(item, problems=[str(e)]))
                continue
        else:
            backup = item
        verdicts.append(
            verify_backup(location, backup, read_data=read_data, check_signature=check_signature)
        )
    return sorted(verdicts, key=lambda v: v.name)
