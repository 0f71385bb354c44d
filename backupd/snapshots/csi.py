"""CSI volume snapshots through the snapshot API (snapshot.storage.k8s.io/v1).

Policy: a backup snapshots a claim with a VolumeSnapshot in the claim's namespace,
through a twin of the chosen VolumeSnapshotClass that differs only in
`deletionPolicy: Retain` (`<class>-backupd-retain`, made once per class, labelled
backupd.io/retain-of). The VolumeSnapshotContent (the driver's snapshot handle, the
data) is therefore born Retain: once the VolumeSnapshot is readyToUse, it is deleted
and the source namespace keeps no object of ours, while the content, labelled with
the backup's name, outlives it for as long as the backup exists. (Setting Retain on
a content made with Delete and then deleting its VolumeSnapshot races the
snapshot-controller's cache, which can still see Delete: the benchmark lost
snapshots that way.) `backup delete` sets the content to `Delete` and deletes it, so
the driver deletes the snapshot. A snapshot that fails or never becomes ready is
deleted the same way at once.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from backupd.errors import BackupdError, ClusterConflict, ClusterError, ClusterNotFound

JSON = dict[str, Any]
API = "/apis/snapshot.storage.k8s.io/v1"
MERGE_PATCH = "application/merge-patch+json"
RETAIN_OF_LABEL = "backupd.io/retain-of"
POLL = 0.25
CLEANUP_TIMEOUT = 60.0


def classes(kube: KubeClient) -> list[JSON] | None:
    """The cluster's VolumeSnapshotClasses (not our Retain twins); None when it does
    not serve the API."""
    try:
        items: list[JSON] = kube.get(f"{API}/volumesnapshotclasses").get("items", [])
    except ClusterNotFound:
        return None
    return [
        c for c in items if RETAIN_OF_LABEL not in ((c.get("metadata") or {}).get("labels") or {})
    ]


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


def retain_twin(kube: KubeClient, name: str) -> str:
    """The class to snapshot with for class `name`: itself if it retains its contents,
    else its Retain twin (created if missing)."""
    cls = kube.get(f"{API}/volumesnapshotclasses/{name}")
    if cls.get("deletionPolicy") == "Retain":
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    twin = f"{name[:200].rstrip('-.')}-{digest}-backupd-retain"
    body = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": twin, "labels": {RETAIN_OF_LABEL: name[:63].rstrip("-._")}},
        "driver": cls["driver"],
        "deletionPolicy": "Retain",
        "parameters": cls.get("parameters") or {},
    }
    with contextlib.suppress(ClusterConflict):
        kube.post(f"{API}/volumesnapshotclasses", body)
    return twin


def take(
    kube: KubeClient,
    record: VolumeSnapshotRecord,
    backup: str,
    *,
    snapshot_class: str,
    timeout: float,
    cancel: Cancel,
) -> VolumeSnapshotRecord:
    """Snapshot one claim through `snapshot_class` (a Retain class); the record says
    Ready with the handle, or why not."""
    name = snapshot_name(backup, record.namespace, record.claim)
    body = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": record.namespace, "labels": {BACKUP_LABEL: backup}},
        "spec": {
            "volumeSnapshotClassName": snapshot_class,
            "source": {"persistentVolumeClaimName": record.claim},
        },
    }
    path = snapshot_path(record.namespace, name)
    try:
        kube.post(snapshot_path(record.namespace), body)
        snapshot, why = _wait_ready(kube, path, timeout, cancel)
        content_name = str(
            (snapshot.get("status") or {}).get("boundVolumeSnapshotContentName") or ""
        )
        if why is not None:
            _discard(kube, path, content_name)
            state = SnapshotState.timed_out if "ready within" in why else SnapshotState.failed
            return record.model_copy(update={"state": state, "message": why})
        content = patch(
            kube, content_path(content_name), {"metadata": {"labels": {BACKUP_LABEL: backup}}}
        )
        _delete(kube, path)  # the content is Retain; the namespace keeps nothing of ours
        _wait_gone(kube, path, CLEANUP_TIMEOUT)
    except BackupdError as e:
        with contextlib.suppress(BackupdError):
            _delete(kube, path)
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


def _discard(kube: KubeClient, snapshot: str, content_name: str | None) -> None:
    """Delete a snapshot that will not be used, and its (Retain) content and data."""
    with contextlib.suppress(BackupdError):
        _delete(kube, snapshot)
        _wait_gone(kube, snapshot, CLEANUP_TIMEOUT)
        if content_name:
            delete_content(kube, content_name, timeout=CLEANUP_TIMEOUT)


def _wait_gone(kube: KubeClient, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kube.get(path)
        except ClusterNotFound:
            return
        time.sleep(POLL)


def _wait_ready(
    kube: KubeClient, path: str, timeout: float, cancel: Cancel
) -> tuple[JSON, str | None]:
    """The VolumeSnapshot, and None once it is readyToUse, else why it is not."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        snapshot = kube.get(path)
        status = snapshot.get("status") or {}
        if status.get("readyToUse") is True and status.get("boundVolumeSnapshotContentName"):
            return snapshot, None
        error = (status.get("error") or {}).get("message")
        if error:
            last_error = f": {error}"
        if cancel.is_set():
            return snapshot, "cancelled before the snapshot was ready"
        if time.monotonic() > deadline:
            return snapshot, f"the snapshot did not become ready within {timeout:.0f}s{last_error}"
        time.sleep(POLL)


def delete_content(kube: KubeClient, name: str, *, timeout: float = 120.0) -> None:
    """Delete a retained VolumeSnapshotContent and, through its driver, the snapshot.
    The policy is set to Delete first: the sidecar sees that update before the
    deletion (one object's events arrive in order). Raises a BackupdError if it is
    still there after `timeout` (the driver refused)."""
    path = content_path(name)
    try:
        patch(kube, path, {"spec": {"deletionPolicy": "Delete"}})
    except ClusterNotFound:
        return  # already gone
    _delete(kube, path)
    deadline = time.monotonic() + timeout
    content: JSON = {}
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
