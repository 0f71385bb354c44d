"""How a restore plans claims that had a snapshot (backupd.restore.volumes.prepare)."""

from __future__ import annotations

from typing import Any

from backupd.api.common import Phase
from backupd.api.restore import RestoredVolume, RestoreStatus
from backupd.api.snapshots import SnapshotState, VolumeSnapshotRecord, VolumeSnapshots
from backupd.restore.planner import Plan, plan, select_entries
from backupd.restore.volumes import prepare
from backupd.restore.volumes import record as record_outcomes
from backupd.storage.ebs import persistent_volume
from tests.unit.actions.builders import JSON, entry, namespace, obj, pv, pvc, spec

DRIVER = "dir.csi.example.com"


def planned(*objects: JSON, **kwargs: Any) -> tuple[Plan, Any]:
    s = spec(**kwargs)
    pairs = [(entry(o), o) for o in objects]
    selection = select_entries([e for e, _ in pairs], s, served=())
    wanted = {e.key for e in selection.to_read()}
    return plan([(e, o) for e, o in pairs if e.key in wanted], selection, s), s


def record(claim: str, **fields: Any) -> VolumeSnapshotRecord:
    values: dict[str, Any] = {
        "namespace": "shop",
        "claim": claim,
        "driver": DRIVER,
        "volume": "pv-1",
        "snapshot_handle": f"snap-{claim}",
        "restore_size": 2 * 2**30,
        "state": SnapshotState.ready,
    }
    return VolumeSnapshotRecord(**(values | fields))


def shop_backup() -> tuple[JSON, ...]:
    return (
        namespace("shop"),
        pvc("data", volume="pv-1", sc="gp2"),
        pv("pv-1", claim="data", sc="gp2"),
        obj("StorageClass", "gp2", provisioner=DRIVER),
    )


def item(p: Plan, kind: str, name: str) -> Any:
    return next(i for i in p.items if i.ref.kind == kind and i.ref.name == name)


def test_a_claim_with_a_snapshot_is_provisioned_from_it_and_its_old_volume_is_skipped() -> None:
    p, s = planned(*shop_backup(), namespace_mappings={"shop": "shop-2"})
    tasks = prepare(p, VolumeSnapshots(backup="nightly", items=[record("data")]), s, "r1")
    claim = item(p, "PersistentVolumeClaim", "data")
    source = claim.obj["spec"]["dataSource"]
    assert source == {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": tasks[0].snapshot,
    }
    assert claim.obj["spec"]["dataSourceRef"] == source
    assert "volumeName" not in claim.obj["spec"]
    # the snapshot restores 2Gi; the claim asked for less
    assert claim.obj["spec"]["resources"]["requests"]["storage"] == str(2 * 2**30)
    assert "data from volume snapshot snap-data" in claim.notes[-1]
    old = item(p, "PersistentVolume", "pv-1")
    assert old.obj is None
    assert old.skip_reason == "claim shop-2/data is restored from its snapshot onto a new volume"
    [task] = tasks
    assert (task.namespace, task.record.claim, task.storage_class) == ("shop-2", "data", "gp2")


def test_storage_class_mapping_applies_to_a_claim_restored_from_a_snapshot() -> None:
    p, s = planned(*shop_backup(), storage_class_mappings={"gp2": "csi-dir"})
    [task] = prepare(p, VolumeSnapshots(backup="nightly", items=[record("data")]), s, "r1")
    assert task.storage_class == "csi-dir"
    assert item(p, "PersistentVolumeClaim", "data").obj["spec"]["storageClassName"] == "csi-dir"


def test_claims_without_a_ready_snapshot_restore_as_before() -> None:
    records = [record("data", state=SnapshotState.timed_out, snapshot_handle=None)]
    p, s = planned(*shop_backup())
    assert prepare(p, VolumeSnapshots(backup="nightly", items=records), s, "r1") == []
    assert item(p, "PersistentVolumeClaim", "data").obj["spec"]["volumeName"] == "pv-1"
    assert item(p, "PersistentVolume", "pv-1").obj is not None


def test_no_restore_volumes_leaves_the_plan_alone() -> None:
    p, s = planned(*shop_backup(), restore_volumes=False)
    assert prepare(p, VolumeSnapshots(backup="nightly", items=[record("data")]), s, "r1") == []
    assert "dataSource" not in item(p, "PersistentVolumeClaim", "data").obj["spec"]


def test_an_ebs_claim_is_bound_to_the_volume_the_restore_makes() -> None:
    ebs = record("data", driver="ebs.csi.aws.com", method="ebs", availability_zone="us-east-1a")
    p, s = planned(*shop_backup())
    [task] = prepare(p, VolumeSnapshots(backup="nightly", items=[ebs]), s, "r1")
    claim = item(p, "PersistentVolumeClaim", "data").obj["spec"]
    assert claim["volumeName"] == task.snapshot and "dataSource" not in claim


def test_a_volume_left_without_its_data_makes_the_restore_partially_failed() -> None:
    status = RestoreStatus(phase=Phase.completed)
    bound = RestoredVolume(
        namespace="shop", claim="a", driver=DRIVER, snapshot_handle="s1", outcome="Bound"
    )
    pending = bound.model_copy(
        update={"claim": "b", "outcome": "Pending", "message": "not Bound within 60s"}
    )
    record_outcomes(status, [bound, pending])
    assert status.phase is Phase.partially_failed and status.volumes == [bound, pending]
    [error] = status.errors
    assert (error.where(), error.message) == (
        "persistentvolumeclaims/shop/b",
        "volume data not restored (Pending): not Bound within 60s",
    )


def test_a_restored_ebs_volume_gets_a_pv_in_its_zone_bound_to_the_claim() -> None:
    ebs = record("data", driver="kubernetes.io/aws-ebs", method="ebs", fs_type="xfs")
    pv = persistent_volume(
        ebs,
        name="pv-new",
        volume_id="vol-9",
        zone="eu-west-1b",
        namespace="shop-2",
        storage_class="gp3",
    )
    spec = pv["spec"]
    assert spec["awsElasticBlockStore"] == {"volumeID": "vol-9", "fsType": "xfs"}
    assert spec["claimRef"] == {"namespace": "shop-2", "name": "data"}
    assert spec["capacity"] == {"storage": str(2 * 2**30)}
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    term = spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert (term["key"], term["values"]) == ("topology.kubernetes.io/zone", ["eu-west-1b"])
    csi = persistent_volume(
        record("data", driver="ebs.csi.aws.com", method="ebs"),
        name="pv-new",
        volume_id="vol-9",
        zone="eu-west-1b",
        namespace="shop",
        storage_class=None,
    )["spec"]
    assert csi["csi"] == {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-9"}
    assert "storageClassName" not in csi
