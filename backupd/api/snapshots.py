"""What a backup records of its volume snapshots (`volumesnapshots.json`). Pure.

The file sits next to the archive; its size and sha256 are in backup.json
(`status.volumeSnapshots`), so a restore reads it only after checking the digest.
Readers ignore fields they do not know (a newer backupd wrote them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
from pydantic import Field, ValidationError

from backupd.api.common import Model
from backupd.errors import ArchiveError

if TYPE_CHECKING:
    from backupd.api.backup import Backup
    from backupd.api.progress import Cancel

BACKUP_LABEL = "backupd.io/backup"
EBS_CSI_DRIVER = "ebs.csi.aws.com"
EBS_IN_TREE = "kubernetes.io/aws-ebs"


class SnapshotState(StrEnum):
    ready = "Ready"
    failed = "Failed"
    timed_out = "TimedOut"
    skipped = "Skipped"  # the claim could not be snapshotted (no class, not bound...)


class VolumeSnapshotRecord(Model):
    """One claim's snapshot (or why it has none)."""

    namespace: str
    claim: str
    driver: str = ""
    method: Literal["csi", "ebs", "none"] = "csi"
    volume: str | None = None  # the PersistentVolume the claim was bound to
    storage_class: str | None = None
    snapshot_class: str | None = None
    snapshot_handle: str | None = None  # the driver's snapshot id (EBS: snap-...)
    content: str | None = None  # CSI: the retained VolumeSnapshotContent
    size: int | None = None  # the claim's capacity, bytes
    restore_size: int | None = None  # the smallest volume the snapshot restores into
    state: SnapshotState
    message: str | None = None
    # EBS only: where the source volume was, and how to make the new one
    source_volume_id: str | None = None
    availability_zone: str | None = None
    volume_type: str | None = None
    fs_type: str | None = None

    def where(self) -> str:
        return f"persistentvolumeclaims/{self.namespace}/{self.claim}"


class VolumeSnapshots(Model):
    backup: str
    cluster: str = ""  # the source cluster's id (kube-system uid)
    items: list[VolumeSnapshotRecord] = Field(default_factory=list)

    @property
    def ready(self) -> list[VolumeSnapshotRecord]:
        return [r for r in self.items if r.state is SnapshotState.ready]

    @property
    def failures(self) -> int:
        """Claims in scope that have no usable snapshot (each one is warned of)."""
        return len(self.items) - len(self.ready)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_json_dict(), option=orjson.OPT_INDENT_2)

    @classmethod
    def parse(cls, data: bytes, backup: str) -> VolumeSnapshots:
        try:
            parsed = cls.from_stored(orjson.loads(data))
        except (orjson.JSONDecodeError, ValidationError) as e:
            raise ArchiveError(f"the volume snapshots of backup {backup} are unreadable") from e
        if parsed.backup != backup:
            raise ArchiveError(
                f"the volume snapshots stored with backup {backup} name backup {parsed.backup!r}"
            )
        return parsed


class PendingDeletion(Model):
    """Snapshots `backup delete` could not delete yet; kept until a retry succeeds."""

    backup: str
    cluster: str = ""  # where its CSI snapshots are (kube-system uid)
    items: list[VolumeSnapshotRecord] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|[mk]|e[0-9]+)?$")
_FACTORS = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity_bytes(value: object) -> int | None:
    """A Kubernetes quantity ("1Gi", "500M", 1073741824) in bytes; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value.strip())
    if m is None:
        return None
    number, suffix = float(m.group(1)), m.group(2) or ""
    if suffix == "m":
        return int(number / 1000)
    if suffix.startswith("e"):
        return int(number * 10 ** int(suffix[1:]))
    return int(number * _FACTORS[suffix])


def snapshot_name(backup: str, namespace: str, claim: str) -> str:
    """The VolumeSnapshot a backup makes of a claim: readable, unique, a valid name."""
    digest = hashlib.sha256(f"{backup}/{namespace}/{claim}".encode()).hexdigest()[:10]
    return f"{backup[:40].rstrip('-.')}-{claim[:180].rstrip('-.')}-{digest}"


def restore_snapshot_name(restore: str, claim: str) -> str:
    """The VolumeSnapshot (and its pre-provisioned content) a restore makes for a claim."""
    digest = hashlib.sha256(f"{restore}/{claim}".encode()).hexdigest()[:10]
    return f"restore-{restore[:40].rstrip('-.')}-{claim[:180].rstrip('-.')}-{digest}"


class VolumeStep(Protocol):
    """The volume step a backup runs after listing (backupd.snapshots.backup.take_all).
    `kube` is the backup's KubeClient; `claims` the PVCs it took; `warn(namespace,
    message)` adds a warning. Returns the records to store, or None (nothing to do)."""

    def __call__(
        self,
        kube: Any,
        backup: Backup,
        claims: list[dict[str, Any]],
        *,
        warn: Callable[[str, str], None],
        info: Callable[[str], None],
        cancel: Cancel,
    ) -> VolumeSnapshots | None: ...
