"""A committed backup's index and archive, read from its location and checked.

    load_index(location, backup)    the stored index: digest, limits, every entry checked
    opened(location, backup)        the index and an ArchiveReader streaming the archive
                                    from the location (never to disk), its digest checked

Engines (restore) and drivers (show, diff, verify) read a backup through here, so
they all agree on what is in it: the stored index, and an archive that holds exactly
its items.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from backupd.api.backup import Backup
from backupd.archive.format import IndexEntry
from backupd.archive.index import Index, read_index
from backupd.archive.reader import ArchiveReader, drain
from backupd.errors import (
    ArchiveError,
    IntegrityError,
    NotFoundError,
    StorageNotFound,
    UserInputError,
)
from backupd.storage import sealing
from backupd.storage.location import Location
from backupd.storage.velero import is_velero


def item_ref(entry: IndexEntry) -> str:
    where = f" -n {entry.namespace}" if entry.namespace else ""
    return f"{entry.group_resource}/{entry.name}{where}"


@contextmanager
def archive_stream(location: Location, backup: Backup) -> Iterator[BinaryIO]:
    """The backup's archive as stored, its sha256 checked at the end of the stream.
    A missing object (or none recorded) is NotFoundError, a digest mismatch
    IntegrityError ("corrupt")."""
    name = backup.metadata.name
    try:  # key from the layout, digest checked, decrypted (backupd.storage.sealing)
        with sealing.backup_object(location, backup, "archive") as raw:
            yield raw
    except StorageNotFound as e:
        raise NotFoundError(f"the archive of backup {name} is missing: {e}") from e
    except IntegrityError as e:
        raise IntegrityError(f"the archive of backup {name}: {e}") from e  # e says corrupt


def load_index(location: Location, backup: Backup) -> Index:
    """The backup's stored index, its digest and every entry checked (NotFoundError,
    from backupd.storage.sealing, if the record stores none). A Velero backup keeps
    none: its tarball is indexed (backupd.archive.velero)."""
    if is_velero(backup):
        from backupd.archive.velero import velero_index

        return velero_index(location, backup).index
    name = backup.metadata.name
    try:  # key from the layout, digest checked, decrypted (backupd.storage.sealing)
        with sealing.backup_object(location, backup, "index") as raw:
            try:
                return read_index(raw, f"backup {name}")
            except ArchiveError:
                drain(raw)  # a digest mismatch of the stored bytes says more
                raise
    except StorageNotFound as e:
        raise NotFoundError(f"the index of backup {name} is missing: {e}") from e
    except IntegrityError as e:
        raise IntegrityError(f"the index of backup {name}: {e}") from e  # e says corrupt


@dataclass
class OpenedBackup:
    """A backup's verified stored index, and a reader that checks its archive against it
    on every pass (exact member set, sizes, digests) before any object comes out."""

    backup: Backup
    index: Index
    reader: ArchiveReader

    @property
    def entries(self) -> list[IndexEntry]:
        return self.index.entries

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

    def objects(self, entries: list[IndexEntry]) -> list[tuple[IndexEntry, dict[str, Any]]]:
        """The objects of `entries`, in archive order, after one pass checked it all."""
        return list(self.reader.objects(entries))

    def load_paths(self, paths: set[str]) -> dict[str, dict[str, Any]]:
        wanted = [e for e in self.entries if e.path in paths]
        return {e.path: obj for e, obj in self.reader.objects(wanted)}


@contextmanager
def opened(
    location: Location, backup: Backup, *, index: Index | None = None
) -> Iterator[OpenedBackup]:
    """The backup's verified index (`index` when the caller has loaded it already), and a
    reader streaming its archive from the location: nothing is written to disk, and
    every read checks the whole archive. A Velero backup is indexed by one pass over its
    tarball (backupd.archive.velero), whatever `index` says."""
    if is_velero(backup):
        from backupd.archive.velero import reader_of

        velero = reader_of(location, backup)
        yield OpenedBackup(backup, velero.velero.index, velero)
        return
    index = index or load_index(location, backup)
    reader = ArchiveReader(
        lambda: archive_stream(location, backup), index, source=f"backup {backup.metadata.name}"
    )
    yield OpenedBackup(backup, index, reader)
