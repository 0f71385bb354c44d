"""CSI volume snapshots through the snapshot API (snapshot.storage.k8s.io/v1).

Policy: a backup creates a VolumeSnapshot of the claim in the claim's namespace and
waits until it is readyToUse. Its VolumeSnapshotContent (which holds the driver's
snapshot handle, i.e. the data) is then set to `deletionPolicy: Retain`, labelled
with the backup's name, and the VolumeSnapshot is deleted: the source namespace keeps
no objects of ours, and the content outlives it for as long as the backup exists.
`backup delete` sets the content back to `Delete` and deletes it, so the driver
deletes the snapshot. A snapshot that failed or never became ready is deleted at once
(its class's deletionPolicy applies).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from backupd.api.progress import Cancel
from backupd.api.snapshots import (
    BACKUP_LABEL,
    SnapshotState,
    VolumeSnapshotRecord,
    quantity_bytes,
    snapshot_name,
)
from backupd.cluster.client import KubeClient
from backupd.errors import BackupdError, ClusterError, ClusterNotFound

JSON = dict[str, Any]
API = "/apis/snapshot.storage.k8s.io/v1"
MERGE_PATCH = "application/merge-patch+json"
POLL = 0.25


def classes(kube: KubeClient) -> list[JSON] | None:
    """The cluster's VolumeSnapshotClasses; None when it does not serve the API."""
    try:
        items: list[JSON] = kube.get(f"{API}/volumesnapshotclasses").get("items", [])
    except ClusterNotFound:
        return None
    return items


def snapshot_path(namespace: str, name: str = "") -> str:
    base = f"{API}/namespaces/{namespace}/volumesnapshots"
    return f"{base}/{name}" if name else base


def content_path(name: str = "") -> str:
    return f"{API}/volumesnapshotcontents/{name}" if name else f"{API}/volumesnapshotcontents"


def patch(kube: KubeClient, path: str, body: JSON) -> JSON:
    return kube.request("PATCH", path, body=body, content_type=MERGE_PATCH)


def _delete(kube: KubeClient, path: str) -> None:
    with contextlib.suppress(ClusterNotFound):
        kube.delete(path)


def take(
    kube: KubeClient,
    record: VolumeSnapshotRecord,
    backup: str,
    *,
    timeout: float,
    cancel: Cancel,
) -> VolumeSnapshotRecord:
    """Snapshot one claim; the record says Ready with the handle, or why not."""
    name = snapshot_name(backup, record.namespace, record.claim)
    body = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": record.namespace, "labels": {BACKUP_LABEL: backup}},
        "spec": {
            "volumeSnapshotClassName": record.snapshot_class,
            "source": {"persistentVolumeClaimName": record.claim},
        },
    }
    path = snapshot_path(record.namespace, name)
    try:
        kube.post(snapshot_path(record.namespace), body)
        snapshot = _wait_ready(kube, path, timeout, cancel)
        if isinstance(snapshot, str):
            _delete(kube, path)
            state = SnapshotState.timed_out if "ready within" in snapshot else SnapshotState.failed
            return record.model_copy(update={"state": state, "message": snapshot})
        content_name = snapshot["status"]["boundVolumeSnapshotContentName"]
        content = patch(
            kube,
            content_path(content_name),
            {"metadata": {"labels": {BACKUP_LABEL: backup}}, "spec": {"deletionPolicy": "Retain"}},
        )
        _delete(kube, path)  # the content is retained; the namespace keeps nothing of ours
        content = _retained(kube, path, content_name, timeout)
    except BackupdError as e:
        _delete_quietly(kube, path)
        return record.model_copy(update={"state": SnapshotState.failed, "message": str(e)})
    status = content.get("status") or {}
    restore_size = status.get("restoreSize")
    if restore_size is None:
        restore_size = quantity_bytes((snapshot.get("status") or {}).get("restoreSize"))
    return record.model_copy(
        update={
            "state": SnapshotState.ready,
            "content": content_name,
            "snapshot_handle": status.get("snapshotHandle"),
            "restore_size": restore_size,
            "message": None,
        }
    )


def _retained(kube: KubeClient, snapshot: str, content_name: str, timeout: float) -> JSON:
    """Wait until the VolumeSnapshot is gone, then check that its content stayed (the
    snapshot-controller acts on its cache: a stale one could still apply Delete)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kube.get(snapshot)
        except ClusterNotFound:
            break
        time.sleep(POLL)
    try:
        content = kube.get(content_path(content_name))
    except ClusterNotFound:
        content = {}
    if not content or content.get("metadata", {}).get("deletionTimestamp"):
        raise ClusterError(f"VolumeSnapshotContent {content_name} was deleted with its snapshot")
    return content


def _delete_quietly(kube: KubeClient, path: str) -> None:
    with contextlib.suppress(BackupdError):
        _delete(kube, path)


def _wait_ready(kube: KubeClient, path: str, timeout: float, cancel: Cancel) -> JSON | str:
    """The VolumeSnapshot once readyToUse, or why it is not (a message)."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        snapshot = kube.get(path)
        status = snapshot.get("status") or {}
        if status.get("readyToUse") is True and status.get("boundVolumeSnapshotContentName"):
            return snapshot
        error = (status.get("error") or {}).get("message")
        if error:
            last_error = f": {error}"
        if cancel.is_set():
            return "cancelled before the snapshot was ready"
        if time.monotonic() > deadline:
            return f"the snapshot did not become ready within {timeout:.0f}s{last_error}"
        time.sleep(POLL)


def delete_content(kube: KubeClient, name: str, *, timeout: float = 120.0) -> None:
    """Delete a retained VolumeSnapshotContent and, through its driver, the snapshot.
    Raises a BackupdError if it is still there after `timeout` (the driver refused)."""
    path = content_path(name)
    try:
        patch(kube, path, {"spec": {"deletionPolicy": "Delete"}})
    except ClusterNotFound:
        return  # already gone
    _delete(kube, path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            content = kube.get(path)
        except ClusterNotFound:
            return
        time.sleep(POLL)
    error = ((content.get("status") or {}).get("error") or {}).get("message")
    raise ClusterError(
        f"VolumeSnapshotContent {name} is still there after {timeout:.0f}s"
        + (f": {error}" if error else "")
    )
