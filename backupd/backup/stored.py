"""Reading a committed backup back from storage: its metadata, index and objects.
(Which cluster we talk to is backupd.cluster.identity.)"""

from __future__ import annotations

from backupd.api.backup import Backup
from backupd.archive.stored import OpenedBackup as OpenedBackup  # re-exported for the drivers
from backupd.archive.stored import item_ref as item_ref
from backupd.archive.stored import load_index as load_index
from backupd.archive.stored import opened as opened
from backupd.storage import records
from backupd.storage.location import Location


def load(location: Location, name: str) -> Backup:
    """The committed backup `name`; NotFoundError if absent or not final."""
    return records.load_backup(location, name)
