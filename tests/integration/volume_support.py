"""Helpers for the volume tests on the CSI sandbox: claims, their directories, checksums."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from kubernetes import client

from backupd.sandbox.csi import STORAGE_CLASS, volume_dir
from tests.fixtures.waiting import eventually

MB = 2**20


def make_claim(core: client.CoreV1Api, ns: str, name: str, size: str = "1Gi") -> None:
    core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": name, "labels": {"app": "db"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": STORAGE_CLASS,
                "resources": {"requests": {"storage": size}},
            },
        },
    )


def static_claim(
    core: client.CoreV1Api,
    ns: str,
    claim: str,
    pv: str,
    csi: dict[str, str],
    labels: dict[str, str] | None = None,
) -> None:
    """PersistentVolume `pv` of the CSI volume `csi`, and `claim` bound to it by name
    (no storage class: nothing is provisioned)."""
    core.create_persistent_volume(
        {
            "metadata": {"name": pv, "labels": labels or {}},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "csi": csi,
                "claimRef": {"namespace": ns, "name": claim},
            },
        }
    )
    core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": pv,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )


def bound_dir(core: client.CoreV1Api, data_dir: Path, ns: str, name: str) -> Path:
    """The claim's volume directory, once it is Bound (found from the PV's handle)."""

    def bound() -> str | None:
        claim = core.read_namespaced_persistent_volume_claim(name, ns)
        return str(claim.spec.volume_name) if claim.status.phase == "Bound" else None

    pv = core.read_persistent_volume(eventually(bound, what=f"claim {ns}/{name} Bound"))
    return volume_dir(data_dir, pv.spec.csi.volume_handle)


def write_files(directory: Path, *, big: int = 0) -> dict[str, str]:
    """A few files (and one of `big` bytes); returns relative path -> sha256."""
    (directory / "conf").mkdir(parents=True, exist_ok=True)
    (directory / "conf" / "settings.ini").write_text("[db]\nmode = primary\n")
    (directory / "README").write_text("data of the shop\n")
    if big:
        with (directory / "big.bin").open("wb") as f:
            left = big
            while left:
                chunk = os.urandom(min(left, 8 * MB))
                f.write(chunk)
                left -= len(chunk)
    return checksums(directory)


def checksums(directory: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(MB):
                digest.update(chunk)
        found[str(path.relative_to(directory))] = digest.hexdigest()
    return found
