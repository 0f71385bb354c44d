"""Which claims a backup snapshots, and how (backupd.snapshots.plan), from cluster objects."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes import client as k8s_client

from backupd.api.backup import Backup, BackupSpec
from backupd.api.common import ObjectMeta
from backupd.api.snapshots import (
    EBS_CSI_DRIVER,
    EBS_IN_TREE,
    SnapshotState,
    VolumeSnapshotRecord,
    VolumeSnapshots,
    quantity_bytes,
    restore_snapshot_name,
    snapshot_name,
)
from backupd.cluster.client import KubeClient
from backupd.cluster.fake import FakeTransport, status_reply
from backupd.errors import ArchiveError, UserInputError
from backupd.snapshots.backup import take_all
from backupd.snapshots.plan import check_class, plan

JSON = dict[str, Any]
DRIVER = "dir.csi.example.com"


def claim(name: str, ns: str = "shop", volume: str | None = None, size: str = "1Gi") -> JSON:
    bound = volume is not None
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"storageClassName": "fast", **({"volumeName": volume} if volume else {})},
        "status": {"phase": "Bound" if bound else "Pending", "capacity": {"storage": size}},
    }


def csi_volume(name: str, driver: str = DRIVER) -> JSON:
    return {"metadata": {"name": name}, "spec": {"csi": {"driver": driver, "volumeHandle": name}}}


def snapshot_class(name: str, driver: str = DRIVER, *, default: bool = True) -> JSON:
    annotations = {"snapshot.storage.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations}, "driver": driver}


def test_a_bound_csi_claim_gets_its_drivers_default_class() -> None:
    result = plan(
        [claim("data", volume="pv-1")],
        {"pv-1": csi_volume("pv-1")},
        [snapshot_class("other", default=False), snapshot_class("standard")],
        chosen_class=None,
        explicit=False,
    )
    assert [t.record.snapshot_class for t in result.tasks] == ["standard"]
    task = result.tasks[0].record
    assert (task.driver, task.volume, task.size, task.method) == (DRIVER, "pv-1", 2**30, "csi")
    assert result.skipped == []


def test_snapshot_class_flag_chooses_the_class_for_its_driver_only() -> None:
    volumes = {"pv-1": csi_volume("pv-1"), "pv-2": csi_volume("pv-2", "other.csi")}
    result = plan(
        [claim("a", volume="pv-1"), claim("b", volume="pv-2")],
        volumes,
        [
            snapshot_class("standard"),
            snapshot_class("never-ready", default=False),
            snapshot_class("other-default", "other.csi"),
        ],
        chosen_class="never-ready",
        explicit=False,
    )
    assert {t.record.claim: t.record.snapshot_class for t in result.tasks} == {
        "a": "never-ready",
        "b": "other-default",
    }


def test_a_driver_without_a_class_is_a_skipped_claim_with_the_reason() -> None:
    result = plan(
        [claim("a", volume="pv-1"), claim("b", volume="pv-2")],
        {"pv-1": csi_volume("pv-1"), "pv-2": csi_volume("pv-2", "nosnap.csi")},
        [snapshot_class("standard")],
        chosen_class=None,
        explicit=False,
    )
    assert [t.record.claim for t in result.tasks] == ["a"]
    [skipped] = result.skipped
    assert skipped.claim == "b" and skipped.state is SnapshotState.skipped
    assert skipped.message == "no VolumeSnapshotClass for driver nosnap.csi"


def test_two_default_classes_for_one_driver_ask_for_a_choice() -> None:
    result = plan(
        [claim("a", volume="pv-1")],
        {"pv-1": csi_volume("pv-1")},
        [snapshot_class("one"), snapshot_class("two")],
        chosen_class=None,
        explicit=False,
    )
    assert "2 default VolumeSnapshotClasses (one, two)" in (result.skipped[0].message or "")


def test_a_cluster_without_snapshot_classes_is_silent_unless_asked() -> None:
    claims = [claim("a", volume="pv-1"), claim("pending")]
    volumes = {"pv-1": csi_volume("pv-1")}
    quiet = plan(claims, volumes, None, chosen_class=None, explicit=False)
    assert (quiet.tasks, quiet.skipped) == ([], [])
    asked = plan(claims, volumes, None, chosen_class=None, explicit=True)
    assert sorted((s.claim, s.message) for s in asked.skipped) == [
        ("a", f"no VolumeSnapshotClass for driver {DRIVER}"),
        ("pending", "the claim is not bound to a volume"),
    ]


def test_ebs_volumes_take_the_native_path_with_their_zone() -> None:
    in_tree = {
        "metadata": {"name": "pv-1", "labels": {"topology.kubernetes.io/zone": "us-east-1b"}},
        "spec": {
            "awsElasticBlockStore": {"volumeID": "aws://us-east-1b/vol-123", "fsType": "ext4"}
        },
    }
    csi_ebs = {
        "metadata": {"name": "pv-2"},
        "spec": {
            "csi": {"driver": EBS_CSI_DRIVER, "volumeHandle": "vol-456"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "topology.ebs.csi.aws.com/zone", "values": ["us-east-1c"]}
                            ]
                        }
                    ]
                }
            },
        },
    }
    result = plan(
        [claim("a", volume="pv-1"), claim("b", volume="pv-2")],
        {"pv-1": in_tree, "pv-2": csi_ebs},
        None,
        chosen_class=None,
        explicit=False,
    )
    got = [
        (t.method, t.record.driver, t.record.source_volume_id, t.record.availability_zone)
        for t in result.tasks
    ]
    assert got == [
        ("ebs", EBS_IN_TREE, "vol-123", "us-east-1b"),
        ("ebs", EBS_CSI_DRIVER, "vol-456", "us-east-1c"),
    ]


def test_an_unknown_snapshot_class_is_refused_by_name() -> None:
    with pytest.raises(UserInputError, match="VolumeSnapshotClass 'nope' not found"):
        check_class("nope", [snapshot_class("standard")])
    check_class("standard", [snapshot_class("standard")])
    check_class(None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1Gi", 2**30), ("500M", 500 * 10**6), ("100Mi", 100 * 2**20), (1024, 1024), ("2", 2)],
)
def test_quantities_in_bytes(text: object, expected: int) -> None:
    assert quantity_bytes(text) == expected


def test_unreadable_quantities_are_none() -> None:
    assert quantity_bytes("lots") is None
    assert quantity_bytes(None) is None
    assert quantity_bytes(True) is None


def test_snapshot_names_are_valid_distinct_and_stable() -> None:
    a = snapshot_name("nightly", "shop", "data-" + "x" * 300)
    b = snapshot_name("nightly", "shop2", "data-" + "x" * 300)
    assert a != b and len(a) <= 253 and a == snapshot_name("nightly", "shop", "data-" + "x" * 300)
    assert restore_snapshot_name("r1", "shop-data").startswith("restore-r1-shop-data-")


def test_stored_records_round_trip_and_refuse_another_backups_file() -> None:
    snapshots = VolumeSnapshots(
        backup="nightly",
        cluster="uid-1",
        items=[
            VolumeSnapshotRecord(
                namespace="shop", claim="data", state=SnapshotState.ready, snapshot_handle="s1"
            ),
            VolumeSnapshotRecord(namespace="shop", claim="logs", state=SnapshotState.timed_out),
        ],
    )
    back = VolumeSnapshots.parse(snapshots.to_bytes(), "nightly")
    assert back == snapshots and [r.claim for r in back.ready] == ["data"]
    assert back.failures == 1
    with pytest.raises(ArchiveError, match="name backup 'nightly'"):
        VolumeSnapshots.parse(snapshots.to_bytes(), "other")
    with pytest.raises(ArchiveError, match="unreadable"):
        VolumeSnapshots.parse(b"{not json", "nightly")


def test_a_cluster_that_forbids_reading_snapshot_classes_warns_of_every_claim() -> None:
    cfg = k8s_client.Configuration()
    cfg.host = "https://api.example:6443"
    fake = FakeTransport(
        status_reply(403, "Forbidden", "volumesnapshotclasses is forbidden for backupd")
    )
    warned: list[tuple[str, str]] = []
    backup = Backup(metadata=ObjectMeta(name="nightly"))
    taken = take_all(
        KubeClient(cfg, transport=fake),
        backup,
        [claim("data", volume="pv-1"), claim("logs", ns="other", volume="pv-2")],
        warn=lambda ns, message: warned.append((ns, message)),
        info=lambda _m: None,
        cancel=threading.Event(),
    )
    assert taken is not None and taken.failures == 2
    assert [ns for ns, _ in warned] == ["shop", "other"]
    assert warned[0][1].startswith(
        "persistentvolumeclaims/shop/data: no volume snapshot: cannot read volumes or snapshot "
        "classes: "
    )
    assert "forbidden for backupd" in warned[0][1]


def test_volumes_off_takes_nothing_and_asks_nothing() -> None:
    cfg = k8s_client.Configuration()
    cfg.host = "https://api.example:6443"
    backup = Backup(metadata=ObjectMeta(name="nightly"), spec=BackupSpec(snapshot_volumes=False))
    kube = KubeClient(cfg, transport=FakeTransport())  # any request would fail the test
    assert (
        take_all(
            kube,
            backup,
            [claim("data", volume="pv-1")],
            warn=lambda _n, _m: None,
            info=lambda _m: None,
            cancel=threading.Event(),
        )
        is None
    )
