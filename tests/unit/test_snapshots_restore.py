"""How a restore plans claims that had a snapshot (backupd.restore.volumes.prepare)."""

from __future__ import annotations

from typing import Any

from backupd.api.snapshots import SnapshotState, VolumeSnapshotRecord, VolumeSnapshots
from backupd.restore.planner import Plan, plan, select_entries
from backupd.restore.volumes import prepare
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
