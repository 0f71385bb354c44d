"""AWS EBS volumes, the native way: EC2 snapshots through boto3 (the usual AWS chain).

Backup: `create_snapshot` of the claim's volume, tagged with the backup's name and
cluster, then wait until it is `completed`. Restore: `create_volume` from the snapshot
in the target zone (`--zone-mapping` maps the backup's zone to another) and a
PersistentVolume pointing at it, bound to the restored claim. `backup delete` deletes
every snapshot tagged with the backup's name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from backupd.api.snapshots import (
    BACKUP_LABEL,
    EBS_IN_TREE,
    SnapshotState,
    VolumeSnapshotRecord,
)
from backupd.errors import StorageError, UserInputError

EC2Client = Any  # boto3's EC2 client (no EC2 stubs are installed)

JSON = dict[str, Any]
CLUSTER_TAG = "backupd.io/cluster"
CLAIM_TAG = "backupd.io/claim"
POLL = 0.5
GIB = 2**30

ClientFactory = Callable[[str | None], EC2Client]


class EbsError(StorageError):
    """EC2 refused or failed a snapshot or volume operation."""


def _aws_errors() -> tuple[type[BaseException], ...]:
    """botocore's errors, imported when an EC2 call fails (boto3 is slow to import and most
    commands never touch EC2)."""
    import botocore.exceptions

    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def client(zone: str | None) -> EC2Client:
    """An EC2 client from the usual AWS chain; the region is AWS_REGION (or
    AWS_DEFAULT_REGION), else the one the zone is in."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region and zone:
        region = zone.rstrip("abcdefghijklmnopqrstuvwxyz") or None
    import boto3

    return boto3.client("ec2", region_name=region)


def _tags(backup: str, cluster: str, claim: str) -> list[dict[str, str]]:
    return [
        {"Key": BACKUP_LABEL, "Value": backup},
        {"Key": CLUSTER_TAG, "Value": cluster or "unknown"},
        {"Key": CLAIM_TAG, "Value": claim},
    ]


def take(
    ec2: EC2Client, record: VolumeSnapshotRecord, backup: str, cluster: str, *, timeout: float
) -> VolumeSnapshotRecord:
    """Snapshot the claim's EBS volume and wait until it is completed."""
    claim = f"{record.namespace}/{record.claim}"
    try:
        volume = ec2.describe_volumes(VolumeIds=[record.source_volume_id or ""])["Volumes"][0]
        snap = ec2.create_snapshot(
            VolumeId=volume["VolumeId"],
            Description=f"backupd backup {backup}: {claim}",
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": _tags(backup, cluster, claim)}],
        )
        snapshot_id = snap["SnapshotId"]
        state = _wait(ec2, snapshot_id, timeout)
    except _aws_errors() as e:
        return record.model_copy(update={"state": SnapshotState.failed, "message": f"EBS: {e}"})
    update: dict[str, object] = {
        "snapshot_handle": snapshot_id,
        "restore_size": int(volume["Size"]) * GIB,
        "availability_zone": record.availability_zone or volume.get("AvailabilityZone"),
        "volume_type": volume.get("VolumeType"),
    }
    if state != "completed":
        update |= {
            "state": SnapshotState.timed_out if state == "pending" else SnapshotState.failed,
            "message": f"EBS snapshot {snapshot_id} is {state} after {timeout:.0f}s",
        }
    else:
        update |= {"state": SnapshotState.ready, "message": None}
    return record.model_copy(update=update)


def _wait(ec2: EC2Client, snapshot_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"]
        if state != "pending" or time.monotonic() > deadline:
            return str(state)
        time.sleep(POLL)


def create_volume(
    ec2: EC2Client, record: VolumeSnapshotRecord, zone: str, restore: str, *, timeout: float
) -> str:
    """A new volume from the record's snapshot in `zone`, available; its id."""
    if not record.snapshot_handle:
        raise UserInputError(f"{record.where()}: the backup records no EBS snapshot")
    try:
        volume = ec2.create_volume(
            SnapshotId=record.snapshot_handle,
            AvailabilityZone=zone,
            VolumeType=record.volume_type or "gp3",
            TagSpecifications=[
                {
                    "ResourceType": "volume",
                    "Tags": [
                        {"Key": "backupd.io/restore", "Value": restore},
                        {"Key": CLAIM_TAG, "Value": f"{record.namespace}/{record.claim}"},
                    ],
                }
            ],
        )
        volume_id = volume["VolumeId"]
        deadline = time.monotonic() + timeout
        while ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] == "creating":
            if time.monotonic() > deadline:
                raise EbsError(f"EBS volume {volume_id} is still creating after {timeout:.0f}s")
            time.sleep(POLL)
    except _aws_errors() as e:
        raise EbsError(f"EBS: cannot create a volume from {record.snapshot_handle}: {e}") from e
    return str(volume_id)


def persistent_volume(
    record: VolumeSnapshotRecord,
    *,
    name: str,
    volume_id: str,
    zone: str,
    namespace: str,
    storage_class: str | None,
) -> JSON:
    """A PersistentVolume for a restored EBS volume, pre-bound to the restored claim.
    Retain: the volume came from a backup; deleting the claim must not lose it."""
    size = record.restore_size or record.size or GIB
    zone_term = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}
    source: JSON = {"volumeID": volume_id} if record.driver == EBS_IN_TREE else {}
    if record.fs_type:
        source["fsType"] = record.fs_type
    spec: JSON = {
        "capacity": {"storage": str(size)},
        "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain",
        "claimRef": {"namespace": namespace, "name": record.claim},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [zone_term]}]}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    if record.driver == EBS_IN_TREE:
        spec["awsElasticBlockStore"] = source
    else:
        spec["csi"] = {"driver": record.driver, "volumeHandle": volume_id, **source}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "spec": spec,
    }


def delete_snapshots(ec2: EC2Client, backup: str) -> list[str]:
    """Delete every EBS snapshot tagged with the backup's name; their ids."""
    try:
        found = ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": f"tag:{BACKUP_LABEL}", "Values": [backup]}]
        )["Snapshots"]
        for snap in found:
            ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
    except _aws_errors() as e:
        raise EbsError(f"EBS: cannot delete the snapshots of backup {backup}: {e}") from e
    return [s["SnapshotId"] for s in found]
