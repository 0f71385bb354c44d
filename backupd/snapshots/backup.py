"""The volume step of a backup: plan, take the snapshots in parallel, record them.

The backup engine calls `take_all` after listing (the resources are in the archive
already); what it returns is stored as volumesnapshots.json. Engines never import one
another, so the drivers (cli, controller) hand `take_all` to the backup engine as its
`volumes` step. A claim that gets no
snapshot, or whose snapshot fails or never becomes ready, is warned of and makes the
backup PartiallyFailed; the resources are backed up all the same.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from backupd.api.backup import Backup
from backupd.api.common import parse_duration
from backupd.api.progress import Cancel
from backupd.api.snapshots import SnapshotState, VolumeSnapshotRecord, VolumeSnapshots
from backupd.cluster.client import JSON, KubeClient
from backupd.errors import BackupdError, ClusterError, ClusterNotFound, ClusterUnauthorized
from backupd.snapshots import csi
from backupd.snapshots.plan import Task, check_class, plan
from backupd.storage import ebs

Warn = Callable[[str, str], None]  # (namespace, message)


def _volumes(kube: KubeClient, claims: list[JSON]) -> dict[str, JSON]:
    volumes: dict[str, JSON] = {}
    for claim in claims:
        name = (claim.get("spec") or {}).get("volumeName")
        if name and name not in volumes:
            try:
                volumes[name] = kube.get(f"/api/v1/persistentvolumes/{name}")
            except ClusterNotFound:
                continue
    return volumes


def _unreadable(backup: Backup, claims: list[JSON], why: str, warn: Warn) -> VolumeSnapshots:
    """Every claim without a snapshot, for one reason (e.g. no RBAC for snapshots)."""
    records = []
    for claim in claims:
        meta = claim.get("metadata") or {}
        r = VolumeSnapshotRecord(
            namespace=meta.get("namespace", ""),
            claim=meta.get("name", ""),
            method="none",
            state=SnapshotState.skipped,
            message=why,
        )
        warn(r.namespace, f"{r.where()}: no volume snapshot: {why}")
        records.append(r)
    return VolumeSnapshots(
        backup=backup.metadata.name, cluster=backup.status.cluster.id, items=records
    )


def take_all(
    kube: KubeClient,
    backup: Backup,
    claims: list[JSON],
    *,
    warn: Warn,
    info: Callable[[str], None],
    cancel: Cancel,
    ec2_client: ebs.ClientFactory = ebs.client,
) -> VolumeSnapshots | None:
    """Snapshot `claims` as the backup's spec says; None when volumes are off or there
    is no claim in scope."""
    spec = backup.spec
    if spec.snapshot_volumes is False or not claims:
        return None
    try:
        classes = csi.classes(kube)
        check_class(spec.snapshot_class, classes)
        volumes = _volumes(kube, claims)
    except ClusterError as e:
        if isinstance(e, ClusterUnauthorized):
            raise  # a refused credential fails the whole backup alike
        return _unreadable(backup, claims, f"cannot read volumes or snapshot classes: {e}", warn)
    planned = plan(
        claims,
        volumes,
        classes,
        chosen_class=spec.snapshot_class,
        explicit=spec.snapshot_volumes is True,
    )
    if not planned.tasks and not planned.skipped:
        info(f"{len(claims)} claim(s) in scope; the cluster offers no volume snapshots")
        return None
    timeout = parse_duration(spec.snapshot_timeout).total_seconds()
    name, cluster = backup.metadata.name, backup.status.cluster.id
    info(
        f"snapshotting {len(planned.tasks)} volume(s), "
        f"at most {spec.snapshot_concurrency} at a time"
    )

    retain: dict[str, str | BackupdError] = {}
    for c in sorted({t.record.snapshot_class or "" for t in planned.tasks} - {""}):
        try:
            retain[c] = csi.retain_twin(kube, c)
        except BackupdError as e:
            retain[c] = e

    def one(task: Task) -> VolumeSnapshotRecord:
        if cancel.is_set():
            return task.record.model_copy(
                update={"state": SnapshotState.failed, "message": "cancelled before it was taken"}
            )
        if task.method == "ebs":
            ec2 = ec2_client(task.record.availability_zone)
            return ebs.take(ec2, task.record, name, cluster, timeout=timeout)
        snapshot_class = retain[task.record.snapshot_class or ""]
        if isinstance(snapshot_class, BackupdError):
            why = f"no Retain class for {task.record.snapshot_class}: {snapshot_class}"
            return task.record.model_copy(update={"state": SnapshotState.failed, "message": why})
        return csi.take(
            kube, task.record, name, snapshot_class=snapshot_class, timeout=timeout, cancel=cancel
        )

    with ThreadPoolExecutor(max_workers=spec.snapshot_concurrency) as pool:
        taken = list(pool.map(one, planned.tasks))
    records = sorted(taken + planned.skipped, key=lambda r: (r.namespace, r.claim))
    for r in records:
        if r.state is SnapshotState.ready:
            info(f"{r.where()}: snapshot {r.snapshot_handle} ready ({r.driver})")
        elif r.state is SnapshotState.skipped:
            warn(r.namespace, f"{r.where()}: no volume snapshot: {r.message}")
        else:
            warn(r.namespace, f"{r.where()}: volume snapshot {r.state.value}: {r.message}")
    return VolumeSnapshots(backup=name, cluster=cluster, items=records)
