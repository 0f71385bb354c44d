"""The sandbox's CSI stack: our directory driver plus the upstream sidecars.

`sandbox up --csi` (or `Sandbox(csi=True)`) installs the VolumeSnapshot CRDs and the
VolumeGroupSnapshot ones the snapshot-controller waits for (copied
from external-snapshotter, see csi_crds/), then starts as local processes next to the
control plane: csi-dirdriver (volumes are directories under a data directory,
snapshots tar archives), csi-provisioner and csi-snapshotter (both talk to the
driver's unix socket directly: kwok nodes are fake and there is no kubelet) and the
snapshot-controller. Last it creates a StorageClass and a default VolumeSnapshotClass
for the driver, and a second, non-default class whose snapshots never become ready
(the driver honours `neverReady: "true"`; tests use it for a snapshot that hangs).

Two sandboxes given the same data directory share one storage backend, as two
clusters on one SAN would: a snapshot taken in one can be restored in the other.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from backupd.cluster.client import KubeClient
from backupd.errors import ClusterConflict, SandboxError
from backupd.sandbox import binaries
from backupd.sandbox.processes import Process, wait_until

DRIVER = "dir.csi.backupd.local"
STORAGE_CLASS = "csi-dir"
SNAPSHOT_CLASS = "csi-dir-snapclass"
NEVER_READY_CLASS = "csi-dir-never-ready"
CRD_DIR = Path(__file__).with_name("csi_crds")
SNAPSHOT_API = "/apis/snapshot.storage.k8s.io/v1"

Spawn = Callable[[str, list[str]], Process]


def volume_dir(data_dir: Path, volume_handle: str) -> Path:
    """Where the driver keeps a volume's files (the PV's spec.csi.volumeHandle)."""
    return data_dir / "volumes" / volume_handle


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS},
        "provisioner": DRIVER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def snapshot_class(name: str, *, default: bool, parameters: dict[str, str]) -> dict[str, Any]:
    annotations = {"snapshot.storage.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": name, "annotations": annotations},
        "driver": DRIVER,
        "deletionPolicy": "Delete",
        "parameters": parameters,
    }


def start_stack(
    spawn: Spawn,
    *,
    kubeconfig: Path,
    directory: Path,
    data_dir: Path,
    processes: list[Process],
    timeout: float,
) -> None:
    """Install the CRDs and classes and start the driver and sidecars (via `spawn`)."""
    snapshotter = binaries.binary_dir("csi-snapshotter")
    provisioner = binaries.binary("csi-provisioner", "csi-provisioner")
    driver = binaries.binary("csi-driver", "csi-dirdriver")
    data_dir.mkdir(parents=True, exist_ok=True)
    socket = directory / "csi" / "csi.sock"
    kc = f"--kubeconfig={kubeconfig}"
    with KubeClient.from_kubeconfig(kubeconfig) as kube:
        _install_crds(kube, timeout, processes)
        spawn(
            "csi-dirdriver",
            [
                str(driver),
                f"--endpoint={socket}",
                f"--data-dir={data_dir}",
                f"--driver-name={DRIVER}",
            ],
        )
        wait_until("the CSI driver's socket", socket.exists, timeout=timeout, processes=processes)
        # client-go's 5 requests/s would make the controller, not the driver, the limit
        fast = ["--kube-api-qps=200", "--kube-api-burst=400"]
        spawn("snapshot-controller", [str(snapshotter / "snapshot-controller"), kc, *fast, "--v=2"])
        spawn(
            "csi-snapshotter",
            [
                str(snapshotter / "csi-snapshotter"),
                kc,
                f"--csi-address={socket}",
                "--leader-election=false",
                "--timeout=60s",
                *fast,
                "--v=2",
            ],
        )
        spawn(
            "csi-provisioner",
            [
                str(provisioner),
                kc,
                f"--csi-address={socket}",
                "--leader-election=false",
                "--timeout=60s",
                "--worker-threads=20",
                *fast,
                "--v=2",
            ],
        )
        _create(kube, "/apis/storage.k8s.io/v1/storageclasses", storage_class())
        _create(
            kube,
            f"{SNAPSHOT_API}/volumesnapshotclasses",
            snapshot_class(SNAPSHOT_CLASS, default=True, parameters={}),
        )
        _create(
            kube,
            f"{SNAPSHOT_API}/volumesnapshotclasses",
            snapshot_class(NEVER_READY_CLASS, default=False, parameters={"neverReady": "true"}),
        )


def _create(kube: KubeClient, path: str, body: dict[str, Any]) -> None:
    with contextlib.suppress(ClusterConflict):
        kube.post(path, body)


def _install_crds(kube: KubeClient, timeout: float, processes: list[Process]) -> None:
    names = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                _create(kube, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", doc)
                names.append(doc["metadata"]["name"])
    if not names:
        raise SandboxError(f"no VolumeSnapshot CRDs found in {CRD_DIR}")

    def established() -> bool:
        for name in names:
            crd = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = crd.get("status", {}).get("conditions", [])
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return False
        return True

    wait_until("the VolumeSnapshot CRDs", established, timeout=timeout, processes=processes)
    # Discovery lags a moment behind Established; the sidecars fail fast without it.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            kube.get(SNAPSHOT_API)
            return
        time.sleep(0.2)
