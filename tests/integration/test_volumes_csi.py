"""Volume data through the real CSI stack of the sandbox (our directory driver, the
upstream provisioner, snapshotter and snapshot-controller): files written into a
claim's volume come back with the same sha256 after a restore, in the same cluster
and in another one sharing the driver's storage; snapshots that cannot be taken are
warned of and make the backup PartiallyFailed with its resources intact."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from backupd.api.backup import Backup, BackupSpec
from backupd.api.common import Phase
from backupd.api.restore import RestoreSpec, RestoreStatus
from backupd.api.snapshots import SnapshotState
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.errors import ClusterNotFound
from backupd.restore import engine as restore_engine
from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.csi import DRIVER, NEVER_READY_CLASS, SNAPSHOT_CLASS
from backupd.snapshots import csi
from backupd.snapshots.backup import take_all
from backupd.storage import volumesnapshots
from backupd.storage.location import Location
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.clusters import api_client
from tests.fixtures.waiting import eventually
from tests.integration.volume_support import (
    MB,
    bound_dir,
    checksums,
    make_claim,
    static_claim,
    write_files,
)

pytestmark = pytest.mark.integration


@pytest.fixture()
def csi_kc(csi_cluster: Sandbox) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(csi_cluster.kubeconfig) as kube:
        yield kube


@pytest.fixture()
def core(csi_cluster: Sandbox) -> Iterator[client.CoreV1Api]:
    with api_client(csi_cluster.kubeconfig) as api:
        yield client.CoreV1Api(api)


@pytest.fixture()
def ns(core: client.CoreV1Api) -> Iterator[str]:
    name = f"vol-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    with contextlib.suppress(client.ApiException):
        core.delete_namespace(name, propagation_policy="Background")


def backup(kc: KubeClient, loc: Location, name: str, ns: str, **spec: Any) -> Backup:
    return backup_engine.run(
        name, BackupSpec(included_namespaces=[ns], **spec), kube=kc, location=loc, volumes=take_all
    )


def restore(kc: KubeClient, loc: Location, backup_name: str) -> RestoreStatus:
    """Restore `backup_name` (as restore `<backup_name>-r`) and return how it ended."""
    spec = RestoreSpec(backup_name=backup_name, volume_timeout="120s")
    return restore_engine.run(f"{backup_name}-r", spec, kube=kc, location=loc).restore.status


def delete_namespace(core: client.CoreV1Api, ns: str) -> None:
    core.delete_namespace(ns)

    def gone() -> bool:
        try:
            core.read_namespace(ns)
        except client.ApiException as e:
            return e.status == 404
        return False

    eventually(gone, timeout=120, what=f"namespace {ns} deleted")


def snapshots_in(kc: KubeClient, ns: str) -> list[str]:
    return [s["metadata"]["name"] for s in kc.get(csi.snapshot_path(ns))["items"]]


def test_files_in_a_volume_come_back_with_the_same_sha256_after_namespace_delete_and_restore(
    csi_cluster: Sandbox,
    csi_kc: KubeClient,
    core: client.CoreV1Api,
    ns: str,
    loc: Location,
    tmp_path: Path,
) -> None:
    data_dir = csi_cluster.csi_data_dir
    make_claim(core, ns, "data")
    source = bound_dir(core, data_dir, ns, "data")
    sums = write_files(source, big=100 * MB)
    assert len(sums) == 3

    started = time.monotonic()
    b = backup(csi_kc, loc, "roundtrip", ns)
    took = time.monotonic() - started
    assert b.status.phase is Phase.completed, b.status.warnings
    assert (b.status.volume_snapshots_attempted, b.status.volume_snapshots_completed) == (1, 1)
    stored = volumesnapshots.load(loc, b)
    assert stored is not None
    [record] = stored.items
    assert (record.claim, record.driver, record.snapshot_class, record.size) == (
        "data",
        DRIVER,
        SNAPSHOT_CLASS,
        2**30,
    )
    assert record.state is SnapshotState.ready and record.snapshot_handle and record.restore_size
    # policy: nothing of ours stays in the namespace; the content is retained, labelled
    assert snapshots_in(csi_kc, ns) == []
    content = csi_kc.get(csi.content_path(record.content or ""))
    assert content["spec"]["deletionPolicy"] == "Retain"
    assert content["metadata"]["labels"]["backupd.io/backup"] == "roundtrip"

    delete_namespace(core, ns)
    eventually(lambda: not source.exists(), what="the old volume deleted by its driver")

    status = restore(csi_kc, loc, "roundtrip")
    assert status.phase is Phase.completed, status.errors
    [volume] = status.volumes
    assert (volume.namespace, volume.claim, volume.outcome) == (ns, "data", "Bound")
    restored = bound_dir(core, data_dir, ns, "data")
    assert restored != source
    assert checksums(restored) == sums
    eventually(lambda: snapshots_in(csi_kc, ns) == [], what="the restore's snapshot cleaned up")

    env = {
        "KUBECONFIG": str(csi_cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "BACKUPD_LOCATION": loc.url,
    }
    described = backupctl("backup", "describe", "roundtrip", "--details", env=env)
    assert described.returncode == 0, described.stderr
    assert "Volumes" in described.stdout and record.snapshot_handle in described.stdout
    as_json = json.loads(
        backupctl("backup", "describe", "roundtrip", "--details", "-o", "json", env=env).stdout
    )
    assert as_json["volumeSnapshots"][0]["state"] == "Ready"
    restored_desc = backupctl("restore", "describe", "roundtrip-r", env=env)
    assert restored_desc.returncode == 0, restored_desc.stderr
    assert f"{ns}/data  Bound  {DRIVER}" in restored_desc.stdout
    restore_log = backupctl("restore", "logs", "roundtrip-r", env=env)
    logged = " ".join(restore_log.stdout.split())  # the console may wrap long lines
    assert f"info persistentvolumeclaims/{ns}/data Bound from snapshot" in logged

    deleted = backupctl("backup", "delete", "roundtrip", "--yes", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted 1 volume snapshot(s)" in deleted.stderr + deleted.stdout

    def content_gone() -> bool:
        try:
            csi_kc.get(csi.content_path(record.content or ""))
        except ClusterNotFound:
            return True
        return False

    assert eventually(content_gone, what="the retained content deleted")
    eventually(
        lambda: not (data_dir / "snapshots" / f"{record.snapshot_handle}.tar").exists(),
        what="the driver's snapshot archive deleted",
    )
    print(f"backup with a 100 MB volume snapshot: {took:.1f}s")


def test_a_backup_restores_into_another_cluster_sharing_the_drivers_storage(
    csi_cluster: Sandbox,
    csi_second_cluster: Sandbox,
    csi_kc: KubeClient,
    core: client.CoreV1Api,
    ns: str,
    loc: Location,
) -> None:
    data_dir = csi_cluster.csi_data_dir
    assert csi_second_cluster.csi_data_dir == data_dir
    make_claim(core, ns, "data")
    sums = write_files(bound_dir(core, data_dir, ns, "data"), big=5 * MB)
    b = backup(csi_kc, loc, "crossing", ns)
    assert b.status.phase is Phase.completed, b.status.warnings

    with (
        KubeClient.from_kubeconfig(csi_second_cluster.kubeconfig) as other,
        api_client(csi_second_cluster.kubeconfig) as other_api,
    ):
        status = restore(other, loc, "crossing")
        assert status.phase is Phase.completed, status.errors
        assert [(v.claim, v.outcome) for v in status.volumes] == [("data", "Bound")]
        other_core = client.CoreV1Api(other_api)
        assert checksums(bound_dir(other_core, data_dir, ns, "data")) == sums
        # the source cluster's retained content is untouched
        [record] = (volumesnapshots.load(loc, b) or pytest.fail("no volumes")).items
        assert csi_kc.get(csi.content_path(record.content or ""))["spec"]["deletionPolicy"] == (
            "Retain"
        )
        other_core.delete_namespace(ns)


def static_claim_on_a_driver_without_a_class(core: client.CoreV1Api, ns: str) -> str:
    pv = f"nosnap-{uuid.uuid4().hex[:8]}"
    static_claim(core, ns, "other", pv, {"driver": "nosnap.csi.example.com", "volumeHandle": pv})
    return pv


def test_claims_that_cannot_be_snapshotted_are_warned_of_and_the_backup_is_partially_failed(
    csi_cluster: Sandbox,
    csi_kc: KubeClient,
    core: client.CoreV1Api,
    ns: str,
    loc: Location,
    tmp_path: Path,
) -> None:
    make_claim(core, ns, "data")
    bound_dir(core, csi_cluster.csi_data_dir, ns, "data")
    pv = static_claim_on_a_driver_without_a_class(core, ns)
    try:
        bound_dir_of_other = eventually(
            lambda: (
                core.read_namespaced_persistent_volume_claim("other", ns).status.phase == "Bound"
            ),
            what="the static claim Bound",
        )
        assert bound_dir_of_other
        no_class = backup(csi_kc, loc, "no-class", ns)
        assert no_class.status.phase is Phase.partially_failed
        messages = [w.message for w in no_class.status.warnings]
        assert (
            f"persistentvolumeclaims/{ns}/other: no volume snapshot: "
            "no VolumeSnapshotClass for driver nosnap.csi.example.com"
        ) in messages
        assert no_class.status.resource_counts["persistentvolumeclaims"] == 2  # still backed up
        assert (
            no_class.status.volume_snapshots_attempted,
            no_class.status.volume_snapshots_completed,
        ) == (2, 1)

        hung = backup(
            csi_kc,
            loc,
            "never-ready",
            ns,
            snapshot_class=NEVER_READY_CLASS,
            snapshot_timeout="3s",
        )
        assert hung.status.phase is Phase.partially_failed
        timed_out = [w.message for w in hung.status.warnings if "TimedOut" in w.message]
        assert timed_out == [
            f"persistentvolumeclaims/{ns}/data: volume snapshot TimedOut: "
            "the snapshot did not become ready within 3s"
        ]
        assert hung.status.resource_counts["persistentvolumeclaims"] == 2
        eventually(lambda: snapshots_in(csi_kc, ns) == [], what="the hung snapshot deleted")

        env = {
            "KUBECONFIG": str(csi_cluster.kubeconfig),
            "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
            "BACKUPD_LOCATION": loc.url,
        }
        refused = backupctl(
            "backup",
            "create",
            "bad-class",
            "--include-namespaces",
            ns,
            "--snapshot-class",
            "nope",
            env=env,
        )
        assert error_line(refused) == "error: VolumeSnapshotClass 'nope' not found in the cluster"
        off = backupctl(
            "backup",
            "create",
            "off",
            "--include-namespaces",
            ns,
            "--no-snapshot-volumes",
            "-o",
            "json",
            env=env,
        )
        assert off.returncode == 0, off.stderr
        assert json.loads(off.stdout)["status"]["phase"] == "Completed"
    finally:
        core.delete_namespaced_persistent_volume_claim("other", ns)
        core.delete_persistent_volume(pv)
