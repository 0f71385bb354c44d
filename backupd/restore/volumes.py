"""Claims that had a snapshot are restored from it, with their data.

Pure part (`prepare`, before anything is applied): each planned claim whose backup
recorded a Ready snapshot is pointed at its data and the PersistentVolume it was
bound to is not restored (the new claim gets a new volume):
  - CSI: `dataSource` -> a VolumeSnapshot this restore makes in the claim's target
    namespace, bound to a pre-provisioned VolumeSnapshotContent that carries the
    recorded snapshot handle with `deletionPolicy: Retain`. This one path serves the
    same cluster (the backup's retained content is left untouched) and another
    cluster whose driver reaches the same storage;
  - EBS: `volumeName` -> a PersistentVolume for a new EBS volume made from the
    snapshot in the target zone (`zone_mappings`).
I/O part (`execute`, after the claims are created): make those objects, wait until
each claim is Bound (`volume_timeout`), then delete the restore's VolumeSnapshot and
content (Retain: the driver keeps the snapshot, which belongs to the backup).
"""

from __future__ import annotations

import contextlib
import datetime
import time
from dataclasses import dataclass
from typing import Any, Literal

from backupd.api.common import Phase, parse_duration
from backupd.api.restore import (
    ItemIssue,
    ItemResult,
    Outcome,
    RestoredVolume,
    RestoreSpec,
    RestoreStatus,
)
from backupd.api.snapshots import (
    VolumeSnapshotRecord,
    VolumeSnapshots,
    quantity_bytes,
    restore_snapshot_name,
)
from backupd.cluster.client import KubeClient
from backupd.errors import BackupdError, ClusterConflict, ClusterNotFound
from backupd.restore.planner import Plan
from backupd.storage import ebs

JSON = dict[str, Any]
SNAPSHOT_API = "/apis/snapshot.storage.k8s.io/v1"
SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
RESTORE_LABEL = "backupd.io/restore"
POLL = 0.5
VolumeOutcome = Literal["Bound", "Failed", "Pending", "Skipped"]


@dataclass(frozen=True)
class VolumeTask:
    record: VolumeSnapshotRecord
    namespace: str  # the claim's target namespace
    snapshot: str  # the VolumeSnapshot / VolumeSnapshotContent (CSI) or PV (EBS) name
    storage_class: str | None


def prepare(
    plan: Plan, snapshots: VolumeSnapshots | None, spec: RestoreSpec, restore: str
) -> list[VolumeTask]:
    """Point planned claims at their snapshots (in place) and skip their old volumes."""
    if snapshots is None or not spec.restore_volumes:
        return []
    ready = {(r.namespace, r.claim): r for r in snapshots.ready}
    tasks: list[VolumeTask] = []
    replaced: dict[str, str] = {}  # old PV name -> claim that replaces it
    for item in plan.items:
        ref, obj = item.ref, item.obj
        if (ref.group, ref.kind) != ("", "PersistentVolumeClaim") or obj is None:
            continue
        record = ready.get((item.source.namespace or "", item.source.name))
        if record is None or not record.snapshot_handle:
            continue
        namespace = ref.namespace or ""
        name = restore_snapshot_name(restore, f"{namespace}-{ref.name}")
        claim_spec: JSON = obj.setdefault("spec", {})
        claim_spec.pop("volumeName", None)
        claim_spec.pop("dataSource", None)
        claim_spec.pop("dataSourceRef", None)
        if record.method == "ebs":
            claim_spec["volumeName"] = name
            note = f"data from EBS snapshot {record.snapshot_handle} (a new volume)"
        else:
            source = {"apiGroup": SNAPSHOT_GROUP, "kind": "VolumeSnapshot", "name": name}
            claim_spec["dataSource"] = dict(source)
            claim_spec["dataSourceRef"] = dict(source)
            note = f"data from volume snapshot {record.snapshot_handle} ({record.driver})"
        _at_least(claim_spec, record.restore_size)
        item.notes.append(note)
        if record.volume:
            replaced[record.volume] = f"{namespace}/{ref.name}"
        tasks.append(VolumeTask(record, namespace, name, claim_spec.get("storageClassName")))
    for item in plan.items:
        if (item.source.group, item.source.kind) == ("", "PersistentVolume") and item.obj:
            claim = replaced.get(item.source.name)
            if claim is not None:
                item.obj = None
                item.skip_reason = f"claim {claim} is restored from its snapshot onto a new volume"
    return tasks


def _at_least(claim_spec: JSON, size: int | None) -> None:
    """A claim must ask for at least the snapshot's restore size."""
    if not size:
        return
    requests = claim_spec.setdefault("resources", {}).setdefault("requests", {})
    asked = quantity_bytes(requests.get("storage"))
    if asked is None or asked < size:
        requests["storage"] = str(size)


# -- I/O ---------------------------------------------------------------------------


def content(task: VolumeTask, restore: str) -> JSON:
    """A pre-provisioned VolumeSnapshotContent carrying the recorded snapshot handle."""
    r = task.record
    return {
        "apiVersion": f"{SNAPSHOT_GROUP}/v1",
        "kind": "VolumeSnapshotContent",
        "metadata": {"name": task.snapshot, "labels": {RESTORE_LABEL: restore}},
        "spec": {
            "deletionPolicy": "Retain",
            "driver": r.driver,
            "source": {"snapshotHandle": r.snapshot_handle},
            "volumeSnapshotRef": {"name": task.snapshot, "namespace": task.namespace},
        },
    }


def snapshot(task: VolumeTask, restore: str) -> JSON:
    return {
        "apiVersion": f"{SNAPSHOT_GROUP}/v1",
        "kind": "VolumeSnapshot",
        "metadata": {
            "name": task.snapshot,
            "namespace": task.namespace,
            "labels": {RESTORE_LABEL: restore},
        },
        "spec": {"source": {"volumeSnapshotContentName": task.snapshot}},
    }


def ebs_volume(
    task: VolumeTask, spec: RestoreSpec, restore: str, timeout: float, ec2_client: ebs.ClientFactory
) -> JSON:
    """A new EBS volume from the snapshot, in the (mapped) zone; the PV for it."""
    r = task.record
    zone = spec.zone_mappings.get(r.availability_zone or "", r.availability_zone)
    if not zone:
        raise BackupdError(f"{r.where()}: no availability zone recorded; map one with a zone")
    volume_id = ebs.create_volume(ec2_client(zone), r, zone, restore, timeout=timeout)
    return ebs.persistent_volume(
        r,
        name=task.snapshot,
        volume_id=volume_id,
        zone=zone,
        namespace=task.namespace,
        storage_class=task.storage_class,
    )


def execute(
    kube: KubeClient,
    tasks: list[VolumeTask],
    results: list[ItemResult],
    spec: RestoreSpec,
    restore: str,
    *,
    ec2_client: ebs.ClientFactory = ebs.client,
) -> list[RestoredVolume]:
    """Make the snapshot objects (or EBS volumes) for the claims this restore created,
    wait until they are Bound, clean up; each claim's outcome."""
    created = {
        (r.namespace, r.name)
        for r in results
        if (r.group, r.kind) == ("", "PersistentVolumeClaim") and r.outcome is Outcome.created
    }
    timeout = parse_duration(spec.volume_timeout).total_seconds()
    outcomes: dict[tuple[str, str], RestoredVolume] = {}
    waiting: list[VolumeTask] = []
    for task in tasks:
        claim = task.record.claim
        if (task.namespace, claim) not in created:
            outcomes[(task.namespace, claim)] = _outcome(
                task, "Skipped", "the claim was not created by this restore; its data is as it was"
            )
            continue
        try:
            if task.record.method == "ebs":
                pv = ebs_volume(task, spec, restore, timeout, ec2_client)
                _create(kube, "/api/v1/persistentvolumes", pv)
            else:
                _create(kube, f"{SNAPSHOT_API}/volumesnapshotcontents", content(task, restore))
                path = f"{SNAPSHOT_API}/namespaces/{task.namespace}/volumesnapshots"
                _create(kube, path, snapshot(task, restore))
            waiting.append(task)
        except BackupdError as e:
            outcomes[(task.namespace, claim)] = _outcome(task, "Failed", str(e))
    outcomes |= _wait_bound(kube, waiting, timeout)
    for task in waiting:
        if task.record.method != "ebs":
            _cleanup(kube, task)
    return [outcomes[(t.namespace, t.record.claim)] for t in tasks]


def _create(kube: KubeClient, path: str, body: JSON) -> None:
    with contextlib.suppress(ClusterConflict):
        kube.post(path, body)


def _outcome(
    task: VolumeTask, outcome: VolumeOutcome, message: str | None, volume: str | None = None
) -> RestoredVolume:
    r = task.record
    return RestoredVolume(
        namespace=task.namespace,
        claim=r.claim,
        driver=r.driver,
        snapshot_handle=r.snapshot_handle or "",
        outcome=outcome,
        volume=volume,
        message=message,
    )


def _wait_bound(
    kube: KubeClient, tasks: list[VolumeTask], timeout: float
) -> dict[tuple[str, str], RestoredVolume]:
    done: dict[tuple[str, str], RestoredVolume] = {}
    deadline = time.monotonic() + timeout
    left = list(tasks)
    while left:
        for task in list(left):
            key = (task.namespace, task.record.claim)
            try:
                claim = kube.get(
                    f"/api/v1/namespaces/{task.namespace}/persistentvolumeclaims/{task.record.claim}"
                )
            except ClusterNotFound:
                done[key] = _outcome(task, "Failed", "the claim was deleted while it was restored")
                left.remove(task)
                continue
            if (claim.get("status") or {}).get("phase") == "Bound":
                volume = (claim.get("spec") or {}).get("volumeName")
                done[key] = _outcome(task, "Bound", None, volume)
                left.remove(task)
        if not left:
            break
        if time.monotonic() > deadline:
            for task in left:
                done[(task.namespace, task.record.claim)] = _outcome(
                    task, "Pending", f"not Bound within {timeout:.0f}s"
                )
            break
        time.sleep(POLL)
    return done


def _cleanup(kube: KubeClient, task: VolumeTask) -> None:
    """The restore's VolumeSnapshot and content go once the claim is Bound (or given
    up on); Retain keeps the snapshot itself, which belongs to the backup."""
    paths = (
        f"{SNAPSHOT_API}/namespaces/{task.namespace}/volumesnapshots/{task.snapshot}",
        f"{SNAPSHOT_API}/volumesnapshotcontents/{task.snapshot}",
    )
    for path in paths:
        with contextlib.suppress(BackupdError):
            kube.delete(path)


def record(status: RestoreStatus, outcomes: list[RestoredVolume]) -> None:
    """Each volume's outcome into the restore's status; a claim left without its data
    is an error and the restore is PartiallyFailed."""
    status.volumes = outcomes
    for v in outcomes:
        if v.outcome in ("Failed", "Pending"):
            status.errors.append(
                ItemIssue(
                    message=f"volume data not restored ({v.outcome}): {v.message}",
                    resource="persistentvolumeclaims",
                    namespace=v.namespace,
                    name=v.claim,
                )
            )
            if status.phase is Phase.completed:
                status.phase = Phase.partially_failed


def log_line(v: RestoredVolume, at: datetime.datetime) -> str:
    """The restore log's line for one volume."""
    level = "info" if v.outcome in ("Bound", "Skipped") else "error"
    detail = f" volume {v.volume}" if v.volume else ""
    why = f": {v.message}" if v.message else ""
    return (
        f"{at.isoformat()} {level} persistentvolumeclaims/{v.namespace}/{v.claim} "
        f"{v.outcome} from snapshot {v.snapshot_handle}{detail}{why}"
    )
