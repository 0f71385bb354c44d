"""EBS volumes the native way, against moto's in-process EC2 and the real sandbox:
a claim on an EBS volume is snapshotted (tagged with the backup and cluster), restored
as a new volume in the mapped zone with a PV bound to the restored claim, and the
snapshot is deleted with the backup."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes import client
from moto import mock_aws

from backupd.api.backup import BackupSpec
from backupd.api.common import Phase
from backupd.api.restore import RestoreSpec
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import cluster_id
from backupd.restore import engine as restore_engine
from backupd.sandbox.cluster import Sandbox
from backupd.snapshots import deletion
from backupd.snapshots.backup import take_all
from backupd.storage import volumesnapshots
from backupd.storage.layout import pending_deletion_key
from backupd.storage.location import Location, open_location
from tests.fixtures.waiting import eventually
from tests.integration.volume_support import static_claim

pytestmark = pytest.mark.integration
REGION = "us-east-1"


@pytest.fixture()
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


@pytest.fixture()
def kc(cluster: Sandbox) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        yield kube


def tagged(ec2: Any, backup: str) -> list[Any]:
    """The EBS snapshots tagged with the backup's name (moto also has its AMIs' own)."""
    found = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:backupd.io/backup", "Values": [backup]}]
    )
    return list(found["Snapshots"])


def ebs_volume_and_claim(core: client.CoreV1Api, ns: str, volume_id: str) -> str:
    pv = f"ebs-{uuid.uuid4().hex[:8]}"
    static_claim(
        core,
        ns,
        "data",
        pv,
        {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id, "fsType": "ext4"},
        labels={"topology.kubernetes.io/zone": "us-east-1a"},
    )
    eventually(
        lambda: core.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Bound",
        what="the claim bound to the EBS volume",
    )
    return pv


def test_an_ebs_claim_round_trips_through_snapshot_and_new_volume_in_the_mapped_zone(
    ec2: Any, kc: KubeClient, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(kube)
    loc: Location = open_location(f"file://{tmp_path / 'store'}")
    source = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, VolumeType="gp3")
    old_pv = ebs_volume_and_claim(core, namespace, source["VolumeId"])
    name = f"ebs-{uuid.uuid4().hex[:6]}"
    restored_ns = f"{namespace[:50]}-r"
    try:
        backup = backup_engine.run(
            name,
            BackupSpec(included_namespaces=[namespace]),
            kube=kc,
            location=loc,
            volumes=take_all,
        )
        assert backup.status.phase is Phase.completed, backup.status.warnings
        assert (
            backup.status.volume_snapshots_attempted,
            backup.status.volume_snapshots_completed,
        ) == (1, 1)
        [snap] = tagged(ec2, name)
        tags = {t["Key"]: t["Value"] for t in snap["Tags"]}
        assert tags["backupd.io/backup"] == name
        assert tags["backupd.io/cluster"] == cluster_id(kc)
        assert snap["VolumeId"] == source["VolumeId"]
        stored = volumesnapshots.load(loc, backup)
        assert stored is not None
        [record] = stored.items
        assert (record.method, record.snapshot_handle, record.availability_zone) == (
            "ebs",
            snap["SnapshotId"],
            "us-east-1a",
        )

        run = restore_engine.run(
            f"{name}-r",
            RestoreSpec(
                backup_name=name,
                namespace_mappings={namespace: restored_ns},
                zone_mappings={"us-east-1a": "us-east-1c"},
                volume_timeout="60s",
            ),
            kube=kc,
            location=loc,
        )
        status = run.restore.status
        assert status.phase is Phase.completed, status.errors
        [volume] = status.volumes
        assert volume.outcome == "Bound", volume.message
        new = [
            v
            for v in ec2.describe_volumes()["Volumes"]
            if v.get("SnapshotId") == snap["SnapshotId"]
        ]
        assert [v["AvailabilityZone"] for v in new] == ["us-east-1c"]
        pv = core.read_persistent_volume(volume.volume)
        assert pv.spec.csi.volume_handle == new[0]["VolumeId"]
        terms = pv.spec.node_affinity.required.node_selector_terms
        assert terms[0].match_expressions[0].values == ["us-east-1c"]
        claim = core.read_namespaced_persistent_volume_claim("data", restored_ns)
        assert (claim.status.phase, claim.spec.volume_name) == ("Bound", volume.volume)
        assert not any(i.name == old_pv and i.outcome.value == "created" for i in run.items)

        pending = deletion.remember(loc, backup)
        assert pending is not None and loc.exists(pending_deletion_key(name))
        outcome = deletion.retry_pending(loc, kube=lambda: KubeClient.from_kubeconfig(None))
        assert (outcome.deleted, outcome.left) == ([snap["SnapshotId"]], [])
        assert tagged(ec2, name) == []
        assert not loc.exists(pending_deletion_key(name))
    finally:
        with contextlib.suppress(client.ApiException):
            core.delete_namespace(restored_ns, propagation_policy="Background")
        for pv_name in [old_pv] + [
            p.metadata.name
            for p in core.list_persistent_volume().items
            if p.spec.claim_ref and p.spec.claim_ref.namespace == restored_ns
        ]:
            core.delete_persistent_volume(pv_name)
