"""A StorageLocation of format Velero: the controller imports Velero's backups, restores
from them through a Restore resource, and never writes, deletes or expires them.

The backup is tests/data/velero/shop-config (made by a real Velero, see generate.py there):
a ConfigMap and a Secret of namespace shop, restored here into the test's namespace.
"""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from backupd.storage.location import open_location
from tests.fixtures.velero import FIXTURES, put_fixture
from tests.integration.controller_support import (
    Env,
    allow_restoring,
    ctl_fixture,
    location,
    phases,
    wait_final,
    wait_for,
)

pytestmark = pytest.mark.integration

ctl = ctl_fixture()
BACKUP = "shop-config"


@pytest.fixture()
def restoring_allowed(ctl: Env) -> Iterator[None]:
    with allow_restoring(ctl.admin):
        yield


def stored_secret() -> dict[str, str]:
    """The Secret's data as Velero stored it in the fixture's tarball."""
    with tarfile.open(FIXTURES / BACKUP / f"{BACKUP}.tar.gz") as tar:
        for member in tar.getmembers():
            if "/secrets/" in member.name and member.name.endswith("web-credentials.json"):
                data = tar.extractfile(member)
                assert data is not None
                return dict(json.load(data)["data"])
    raise AssertionError("no Secret in the fixture")


def files(bucket: Path) -> dict[str, bytes]:
    return {str(p.relative_to(bucket)): p.read_bytes() for p in bucket.rglob("*") if p.is_file()}


def velero_location(ctl: Env) -> tuple[Path, dict[str, bytes]]:
    """StorageLocation old-velero, of format Velero, holding the fixture; its files now."""
    bucket = ctl.tmp / "velero-bucket"
    put_fixture(open_location(bucket.as_uri()), BACKUP)
    location(ctl.res, "old-velero", bucket.as_uri(), format="Velero")
    return bucket, files(bucket)


def test_a_velero_location_is_imported_restored_from_and_left_untouched(
    ctl: Env, kube: client.ApiClient, namespace: str, restoring_allowed: None
) -> None:
    bucket, before = velero_location(ctl)
    c = ctl.controller().start()
    try:
        imported = wait_for(  # created, then its status set: wait for both
            "the Velero backup imported",
            lambda: (b := ctl.res.get("backups", BACKUP)) and phases([b]) != ["New"] and b,
        )
        assert phases([imported]) == ["Completed"], imported.get("status")
        uid = imported["metadata"]["uid"]
        ctl.res.create(
            "restores",
            {
                "metadata": {"name": "from-velero"},
                "spec": {"backupName": BACKUP, "namespaceMappings": {"shop": namespace}},
            },
        )
        restored = wait_final(ctl.res, "restores", "from-velero", timeout=90)
        assert phases([restored]) == ["Completed"], restored["status"]
        core = client.CoreV1Api(kube)
        assert core.read_namespaced_config_map("web-settings", namespace).data
        secret = core.read_namespaced_secret("web-credentials", namespace)
        assert secret.data == stored_secret()  # byte for byte (base64 both sides)
        time.sleep(3)  # several catalog syncs (every second): the import stays as it is
        again = ctl.res.get("backups", BACKUP)
        assert again is not None and again["metadata"]["uid"] == uid
        status = (ctl.res.get("storagelocations", "old-velero") or {}).get("status") or {}
        assert status.get("phase") == "Available", status
    finally:
        c.stop()
    assert files(bucket) == before  # nothing written, nothing deleted


def test_a_backup_into_a_velero_location_fails_and_writes_nothing(ctl: Env, namespace: str) -> None:
    bucket, before = velero_location(ctl)
    c = ctl.controller().start()
    try:
        ctl.res.create(
            "backups",
            {
                "metadata": {"name": "into-velero"},
                "spec": {"includedNamespaces": [namespace], "storageLocation": "old-velero"},
            },
        )
        done = wait_final(ctl.res, "backups", "into-velero")
        assert phases([done]) == ["Failed"], done.get("status")
        assert "Velero" in json.dumps(done["status"])
    finally:
        c.stop()
    assert files(bucket) == before
