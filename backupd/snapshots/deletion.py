"""Deleting a backup's volume snapshots, never forgetting one that would not go.

Before a backup's objects are deleted, its snapshots are written to
`pending-deletions/<backup>.json` (backupd.storage.volumesnapshots). Each is then
deleted: a CSI snapshot by setting its retained VolumeSnapshotContent back to
`deletionPolicy: Delete` and deleting it (the driver deletes the data), EBS snapshots
by the backup's tag. What is deleted leaves the pending record; what could not be
(the cluster unreachable, another cluster, the driver refusing) stays in it with the
reason, and every later `backup delete` (or `retry_pending`) tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from backupd.api.backup import Backup
from backupd.api.snapshots import PendingDeletion, VolumeSnapshotRecord
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import cluster_id
from backupd.errors import BackupdError
from backupd.snapshots import csi
from backupd.storage import ebs
from backupd.storage import volumesnapshots as stored
from backupd.storage.location import Location

KubeFactory = Callable[[], KubeClient]


@dataclass
class Outcome:
    deleted: list[str] = field(default_factory=list)  # snapshot handles
    left: list[str] = field(default_factory=list)  # "<claim>: <why>"


def _key(r: VolumeSnapshotRecord) -> tuple[str, str, str]:
    return (r.namespace, r.claim, r.snapshot_handle or "")


def remember(location: Location, backup: Backup) -> PendingDeletion | None:
    """Record the backup's ready snapshots as pending deletion (before anything goes)."""
    snapshots = stored.load(location, backup)
    if snapshots is None or not snapshots.ready:
        return None
    name = backup.metadata.name
    known = {p.backup: p for p in stored.pending(location)}.get(name)
    items = {_key(r): r for r in (known.items if known else [])}
    items |= {_key(r): r for r in snapshots.ready}
    pending = PendingDeletion(backup=name, cluster=snapshots.cluster, items=list(items.values()))
    stored.save_pending(location, pending)
    return pending


def delete(
    location: Location,
    pending: PendingDeletion,
    *,
    kube: KubeFactory,
    ec2_client: ebs.ClientFactory = ebs.client,
) -> Outcome:
    """Try to delete every pending snapshot of one backup; update the record."""
    outcome = Outcome()
    left: list[VolumeSnapshotRecord] = []
    reasons: list[str] = []
    csi_items = [r for r in pending.items if r.method == "csi"]
    ebs_items = [r for r in pending.items if r.method == "ebs"]
    if csi_items:
        _delete_csi(csi_items, pending, kube, outcome, left, reasons)
    if ebs_items:
        zone = ebs_items[0].availability_zone
        try:
            ebs.delete_snapshots(ec2_client(zone), pending.backup)
            outcome.deleted += [r.snapshot_handle or "" for r in ebs_items]
        except BackupdError as e:
            left += ebs_items
            reasons.append(str(e))
            outcome.left += [f"{r.where()}: {e}" for r in ebs_items]
    stored.save_pending(location, pending.model_copy(update={"items": left, "reasons": reasons}))
    return outcome


def _delete_csi(
    items: list[VolumeSnapshotRecord],
    pending: PendingDeletion,
    kube_factory: KubeFactory,
    outcome: Outcome,
    left: list[VolumeSnapshotRecord],
    reasons: list[str],
) -> None:
    def keep(r: VolumeSnapshotRecord, why: str) -> None:
        left.append(r)
        reasons.append(f"{r.where()}: {why}")
        outcome.left.append(f"{r.where()}: {why}")

    try:
        kube = kube_factory()
    except BackupdError as e:
        for r in items:
            keep(r, f"the cluster is not reachable: {e}")
        return
    with kube:
        try:
            here = cluster_id(kube)
        except BackupdError as e:
            for r in items:
                keep(r, f"the cluster is not reachable: {e}")
            return
        if pending.cluster and here != pending.cluster:
            for r in items:
                keep(r, f"its snapshot is in cluster {pending.cluster}; this is cluster {here}")
            return
        for r in items:
            if not r.content:
                continue
            try:
                csi.delete_content(kube, r.content)
                outcome.deleted.append(r.snapshot_handle or r.content)
            except BackupdError as e:
                keep(r, str(e))


def retry_pending(
    location: Location, *, kube: KubeFactory, ec2_client: ebs.ClientFactory = ebs.client
) -> Outcome:
    """Try again every snapshot earlier deletions left behind."""
    total = Outcome()
    for pending in stored.pending(location):
        one = delete(location, pending, kube=kube, ec2_client=ec2_client)
        total.deleted += one.deleted
        total.left += one.left
    return total
