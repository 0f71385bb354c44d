"""Deleting a backup's snapshots never forgets one: what cannot be deleted stays recorded
under pending-deletions/ with the reason, and a later retry deletes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backupd.api.backup import Backup
from backupd.api.common import ObjectMeta
from backupd.api.snapshots import SnapshotState, VolumeSnapshotRecord, VolumeSnapshots
from backupd.cluster.client import KubeClient
from backupd.errors import ArchiveError, ClusterUnreachable, IntegrityError
from backupd.snapshots import deletion
from backupd.storage import volumesnapshots
from backupd.storage.layout import pending_deletion_key
from backupd.storage.location import Location


@pytest.fixture()
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("ec2", region_name="us-east-1")


def stored_backup(loc: Location, *records: VolumeSnapshotRecord) -> Backup:
    backup = Backup(metadata=ObjectMeta(name="nightly"))
    volumesnapshots.store(loc, backup, VolumeSnapshots(backup="nightly", items=list(records)))
    return backup


def csi_record(claim: str) -> VolumeSnapshotRecord:
    return VolumeSnapshotRecord(
        namespace="shop",
        claim=claim,
        driver="dir.csi.example.com",
        snapshot_handle=f"snapshot-{claim}",
        content=f"snapcontent-{claim}",
        state=SnapshotState.ready,
    )


def unreachable() -> KubeClient:
    raise ClusterUnreachable("connection refused")


def test_csi_snapshots_of_an_unreachable_cluster_stay_recorded_with_the_reason(
    loc: Location,
) -> None:
    failed = VolumeSnapshotRecord(namespace="shop", claim="tmp", state=SnapshotState.failed)
    backup = stored_backup(loc, csi_record("data"), failed)
    pending = deletion.remember(loc, backup)
    assert pending is not None and [r.claim for r in pending.items] == ["data"]  # only Ready

    for _ in range(2):  # retried, never forgotten
        outcome = deletion.retry_pending(loc, kube=unreachable)
        assert outcome.deleted == []
        assert outcome.left == [
            "persistentvolumeclaims/shop/data: the cluster is not reachable: connection refused"
        ]
        [kept] = volumesnapshots.pending(loc)
        assert [r.content for r in kept.items] == ["snapcontent-data"]
        assert kept.reasons == outcome.left


def test_ebs_snapshots_are_deleted_by_the_backups_tag_and_the_record_goes(
    loc: Location, ec2: Any
) -> None:
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
    tags = [{"Key": "backupd.io/backup", "Value": "nightly"}]
    snap = ec2.create_snapshot(
        VolumeId=volume["VolumeId"], TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}]
    )
    other = ec2.create_snapshot(VolumeId=volume["VolumeId"])
    record = VolumeSnapshotRecord(
        namespace="shop",
        claim="data",
        driver="ebs.csi.aws.com",
        method="ebs",
        snapshot_handle=snap["SnapshotId"],
        availability_zone="us-east-1a",
        state=SnapshotState.ready,
    )
    deletion.remember(loc, stored_backup(loc, record))
    assert loc.exists(pending_deletion_key("nightly"))
    outcome = deletion.retry_pending(loc, kube=unreachable)  # EBS needs no cluster
    assert (outcome.deleted, outcome.left) == ([snap["SnapshotId"]], [])
    left = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snap["SnapshotId"] not in left and other["SnapshotId"] in left
    assert not loc.exists(pending_deletion_key("nightly"))


def test_volume_snapshots_are_read_only_when_their_digest_matches(loc: Location) -> None:
    backup = stored_backup(loc, csi_record("data"))
    assert volumesnapshots.load(loc, backup) is not None
    key = backup.status.volume_snapshots.key if backup.status.volume_snapshots else ""
    loc.put_bytes(key, b'{"backup": "nightly", "items": []}')
    with pytest.raises(IntegrityError):
        volumesnapshots.load(loc, backup)
    assert backup.status.volume_snapshots is not None
    elsewhere = backup.model_copy(deep=True)
    assert elsewhere.status.volume_snapshots is not None
    elsewhere.status.volume_snapshots.key = "backups/other/volumesnapshots.json"
    with pytest.raises(ArchiveError, match="as its volume snapshots"):
        volumesnapshots.load(loc, elsewhere)
