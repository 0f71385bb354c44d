"""Reading a committed backup back from storage: its metadata, index and objects.
(Which cluster we talk to is backupd.cluster.identity.)"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backupd.api.backup import Backup
from backupd.api.common import StoredObject
from backupd.archive.format import IndexEntry
from backupd.archive.reader import ArchiveReader, read_index_file
from backupd.errors import NotFoundError, UserInputError
from backupd.storage import records
from backupd.storage.location import Location


def load(location: Location, name: str) -> Backup:
    """The committed backup `name`; NotFoundError if absent or not final."""
    return records.load_backup(location, name)


def require_archive(backup: Backup) -> StoredObject:
    if backup.status.archive is None or backup.status.index is None:
        raise NotFoundError(
            f"backup {backup.metadata.name} has no archive (phase {backup.status.phase}: "
            f"{backup.status.failure_reason or 'nothing was stored'})"
        )
    return backup.status.archive


def item_ref(entry: IndexEntry) -> str:
    where = f" -n {entry.namespace}" if entry.namespace else ""
    return f"{entry.group_resource}/{entry.name}{where}"


@dataclass
class OpenedBackup:
    backup: Backup
    entries: list[IndexEntry]
    reader: ArchiveReader

    def find(self, item: str, namespace: str | None) -> IndexEntry:
        """Resolve KIND/NAME (kind, resource or resource.group) to one entry."""
        if "/" not in item:
            raise UserInputError(f"expected KIND/NAME, got {item!r}")
        kind, name = item.split("/", 1)
        kind = kind.lower()
        hits = [
            e
            for e in self.entries
            if e.name == name
            and kind in {e.kind.lower(), e.resource, e.group_resource, e.resource.rstrip("s")}
            and (namespace is None or e.namespace == namespace)
        ]
        if not hits:
            where = f" in namespace {namespace}" if namespace else ""
            raise NotFoundError(f"{item}{where} is not in backup {self.backup.metadata.name}")
        if len(hits) > 1:
            options = ", ".join(item_ref(h) for h in hits[:5])
            raise UserInputError(f"{item} is ambiguous ({options}); add -n NAMESPACE or the group")
        return hits[0]

    def load_paths(self, paths: set[str]) -> dict[str, dict[str, Any]]:
        wanted = [e for e in self.entries if e.path in paths]
        return {e.path: obj for e, obj in self.reader.objects(wanted)}


@contextmanager
def opened(location: Location, backup: Backup) -> Iterator[OpenedBackup]:
    """Download the archive and index (digests verified) into a temporary directory."""
    archive = require_archive(backup)
    index = backup.status.index
    assert index is not None
    with tempfile.TemporaryDirectory(prefix=f"backupd-{backup.metadata.name}-") as tmp:
        work = Path(tmp)
        location.download(index.key, work / "index.jsonl.gz", sha256=index.sha256)
        location.download(archive.key, work / Path(archive.key).name, sha256=archive.sha256)
        _, entries = read_index_file(work / "index.jsonl.gz")
        yield OpenedBackup(backup, entries, ArchiveReader(work / Path(archive.key).name))
