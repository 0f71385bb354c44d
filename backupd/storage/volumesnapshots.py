"""volumesnapshots.json: stored next to a backup's archive, read back digest-checked.

Its key comes from the layout and the backup's name, never from the record; its size
and sha256 are in backup.json (`status.volumeSnapshots`), so it is trusted only as
far as backup.json is. Snapshots that `backup delete` could not delete yet are kept
under `pending-deletions/<backup>.json` until a retry deletes them: never forgotten.
"""

from __future__ import annotations

import contextlib

import orjson
from pydantic import ValidationError

from backupd.api.backup import Backup
from backupd.api.common import StoredObject
from backupd.api.snapshots import PendingDeletion, VolumeSnapshots
from backupd.errors import ArchiveError
from backupd.storage.base import ObjectNotFound
from backupd.storage.layout import BackupKeys, pending_deletion_key
from backupd.storage.location import Location

PENDING_PREFIX = "pending-deletions/"


def store(location: Location, backup: Backup, snapshots: VolumeSnapshots) -> None:
    """Write volumesnapshots.json; its digest and counts go into backup.status."""
    key = BackupKeys(backup.metadata.name).volumesnapshots
    result = location.put_bytes(key, snapshots.to_bytes())
    status = backup.status
    status.volume_snapshots = StoredObject(key=key, size=result.size, sha256=result.sha256)
    status.volume_snapshots_attempted = len(snapshots.items)
    status.volume_snapshots_completed = len(snapshots.ready)


def load(location: Location, backup: Backup) -> VolumeSnapshots | None:
    """A backup's volume snapshots, only if the digest matches backup.json's; None when
    the backup recorded none."""
    stored = backup.status.volume_snapshots
    if stored is None:
        return None
    name = backup.metadata.name
    key = BackupKeys(name).volumesnapshots
    if stored.key != key:
        raise ArchiveError(
            f"backup {name} names {stored.key[:120]!r} as its volume snapshots; they are {key}"
        )
    return VolumeSnapshots.parse(location.get_bytes(key, sha256=stored.sha256), name)


def save_pending(location: Location, pending: PendingDeletion) -> None:
    key = pending_deletion_key(pending.backup)
    if pending.items:
        location.put_bytes(key, orjson.dumps(pending.to_json_dict(), option=orjson.OPT_INDENT_2))
    else:
        with contextlib.suppress(ObjectNotFound):
            location.delete(key)


def pending(location: Location) -> list[PendingDeletion]:
    """Every backup's snapshots still waiting to be deleted (damaged records skipped)."""
    found: list[PendingDeletion] = []
    for key in location.iter_keys(PENDING_PREFIX):
        try:
            found.append(PendingDeletion.from_stored(orjson.loads(location.get_bytes(key))))
        except (ObjectNotFound, orjson.JSONDecodeError, ValidationError):
            continue
    return found
