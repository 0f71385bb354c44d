"""Reading a committed backup back from storage: its metadata, index and objects.
(Which cluster we talk to is backupd.cluster.identity.)"""

from __future__ import annotations

from backupd.api.backup import Backup
from backupd.archive.stored import (  # noqa: F401 (re-exported: where drivers read a backup)
    OpenedBackup,
    item_ref,
    load_index,
    opened,
    require_archive,
)
from backupd.storage import records
from backupd.storage.location import Location


def load(location: Location, name: str) -> Backup:
    """The committed backup `name`; NotFoundError if absent or not final."""
    return records.load_backup(location, name)
