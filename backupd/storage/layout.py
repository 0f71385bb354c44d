"""The bucket key layout: pure functions from names to object keys. No I/O.

    backups/<name>/backup.json            spec + status, written last (the commit)
    backups/<name>/resources.tar.gz|zst   the resources archive
    backups/<name>/index.json.gz          every item with its sha256
    backups/<name>/volumesnapshots.json
    backups/<name>/backup.log.gz
    restores/<name>/restore.json|restore.log.gz|results.json
    drills/<name>/drill.json|report.json

Every name is validated before a key is built: a Kubernetes object name (DNS-1123
subdomain) capped at 63 characters so it can also be a label value, never `..` and
never a slash. Keys themselves are checked by `validate_key` at the store boundary.

Keys come from here and the backup's name, never from stored data: what a stored
backup.json says its objects are called is checked against `BackupKeys.mismatches`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from backupd.errors import UserInputError

MAX_NAME_LENGTH = 63
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_MAX_KEY_LENGTH = 1024

Compression = Literal["gzip", "zstd"]
_ARCHIVE_SUFFIX: dict[str, str] = {"gzip": "tar.gz", "zstd": "tar.zst"}

KIND_METADATA: dict[str, str] = {
    "backups": "backup.json",
    "restores": "restore.json",
    "drills": "drill.json",
}


def validate_name(name: str, what: str = "backup") -> str:
    """Return `name` if it may name a backup (restore, drill...), else raise UserInputError."""
    if not isinstance(name, str) or not name:
        raise UserInputError(f"{what} name must not be empty")
    shown = name if len(name) <= 80 else name[:77] + "..."
    if len(name) > MAX_NAME_LENGTH:
        raise UserInputError(
            f"invalid {what} name {shown!r}: longer than {MAX_NAME_LENGTH} characters"
        )
    if "/" in name or "\\" in name:
        raise UserInputError(f"invalid {what} name {shown!r}: must not contain a slash")
    if ".." in name:
        raise UserInputError(f"invalid {what} name {shown!r}: must not contain '..'")
    if not _DNS1123_SUBDOMAIN.fullmatch(name):
        raise UserInputError(
            f"invalid {what} name {shown!r}: use lower case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return name


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise UserInputError.

    A key is '/'-separated, relative, with no empty, '.' or '..' segment, no backslash
    and no control character, so it can never escape a prefix or a directory root.
    """
    if not key or len(key) > _MAX_KEY_LENGTH:
        raise UserInputError(f"invalid object key {key[:80]!r}: empty or too long")
    if key.startswith("/") or "\\" in key or any(ord(c) < 0x20 or c == "\x7f" for c in key):
        raise UserInputError(f"invalid object key {key[:80]!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise UserInputError(f"invalid object key {key[:80]!r}: empty, '.' or '..' segment")
    return key


def validate_prefix(prefix: str) -> str:
    """A list prefix: empty, or a key-like string (it may end with '/')."""
    if prefix:
        validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


@dataclass(frozen=True)
class _Keys:
    kind: str
    name: str

    def __post_init__(self) -> None:
        validate_name(self.name, self.kind.rstrip("s"))

    @property
    def prefix(self) -> str:
        return f"{self.kind}/{self.name}/"

    @property
    def metadata(self) -> str:
        return self.prefix + KIND_METADATA[self.kind]


class BackupKeys(_Keys):
    def __init__(self, name: str) -> None:
        super().__init__("backups", name)

    def archive(self, compression: Compression = "gzip") -> str:
        suffix = _ARCHIVE_SUFFIX.get(compression)
        if suffix is None:
            raise UserInputError(f"unknown compression {compression!r}; use gzip or zstd")
        return self.prefix + f"resources.{suffix}"

    @property
    def index(self) -> str:
        return self.prefix + "index.json.gz"

    @property
    def log(self) -> str:
        return self.prefix + "backup.log.gz"

    @property
    def volumesnapshots(self) -> str:
        return self.prefix + "volumesnapshots.json"

    def expected(self, compression: Compression = "gzip") -> dict[str, str]:
        """The key of each object a backup records, by role."""
        return {
            "archive": self.archive(compression),
            "index": self.index,
            "log": self.log,
            "volumesnapshots": self.volumesnapshots,
        }

    def mismatches(self, compression: Compression, recorded: dict[str, str | None]) -> list[str]:
        """Why the keys a stored record names (role -> key, None: not recorded) are not
        this backup's keys ([] when every recorded key is the expected one)."""
        expected = self.expected(compression)
        problems: list[str] = []
        for role, key in recorded.items():
            if key is not None and key != expected.get(role):
                shown = key if len(key) <= 120 else key[:117] + "..."
                problems.append(
                    f"it names {shown!r} as its {role}; the {role} of backup {self.name} "
                    f"is {expected.get(role)}"
                )
        return problems


class RestoreKeys(_Keys):
    def __init__(self, name: str) -> None:
        super().__init__("restores", name)

    @property
    def log(self) -> str:
        return self.prefix + "restore.log.gz"

    @property
    def results(self) -> str:
        return self.prefix + "results.json"


class DrillKeys(_Keys):
    def __init__(self, name: str) -> None:
        super().__init__("drills", name)

    @property
    def report(self) -> str:
        return self.prefix + "report.json"


def pending_deletion_key(backup: str) -> str:
    """Volume snapshots of a deleted backup that could not be deleted yet
    (backupd.storage.volumesnapshots); outside backups/ so the backup stays deleted."""
    return f"pending-deletions/{validate_name(backup)}.json"


def metadata_key(kind: str, name: str) -> str:
    """The commit object of `<kind>/<name>/` (kind: backups, restores or drills)."""
    if kind not in KIND_METADATA:
        raise UserInputError(f"unknown kind {kind!r}; use {', '.join(KIND_METADATA)}")
    return _Keys(kind, name).metadata
