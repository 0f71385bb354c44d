"""Bad input: a clear one-line error, and nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from backupd.sandbox.cluster import Sandbox
from backupd.storage.layout import BackupKeys
from tests.fixtures.cli import backupctl, error_line
from tests.integration.restore_support import backup, counts, create_shop, restore

pytestmark = pytest.mark.integration


@pytest.fixture()
def shop_backup(cluster: Sandbox, namespace: str, tmp_path: Path) -> Path:
    """A location holding backup `shop` of a fresh shop namespace."""
    create_shop(cluster.kubeconfig, namespace)
    backup(cluster.kubeconfig, (tmp_path / "location").as_uri(), "shop", namespace)
    return tmp_path / "location"


def restore_into(cluster: Sandbox, location: Path, namespace: str, *args: str) -> str:
    res = backupctl(
        "restore", "create", "--from-backup", "shop", "--location", location.as_uri(),
        "--kubeconfig", str(cluster.kubeconfig),
        "--namespace-mappings", f"{namespace}:{namespace}-x", *args,
    )  # fmt: skip
    return error_line(res)


def assert_nothing_created(kube: client.ApiClient, location: Path, namespace: str) -> None:
    with pytest.raises(ApiException) as e:
        client.CoreV1Api(kube).read_namespace(f"{namespace}-x")
    assert e.value.status == 404
    assert not (location / "restores").exists()


def test_unknown_backup(cluster: Sandbox, tmp_path: Path) -> None:
    res = backupctl(
        "restore", "create", "--from-backup", "nope", "--location", tmp_path.as_uri(),
        "--kubeconfig", str(cluster.kubeconfig),
    )  # fmt: skip
    assert "backup nope not found" in error_line(res)
    assert res.returncode == 3


def test_missing_archive(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, shop_backup: Path
) -> None:
    (shop_backup / BackupKeys("shop").archive()).unlink()
    line = restore_into(cluster, shop_backup, namespace)
    assert "the archive of backup shop is missing" in line
    assert_nothing_created(kube, shop_backup, namespace)


def test_corrupt_archive(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, shop_backup: Path
) -> None:
    archive = shop_backup / BackupKeys("shop").archive()
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    line = restore_into(cluster, shop_backup, namespace)
    assert "the archive of backup shop: corrupt object" in line and "sha256 mismatch" in line
    assert_nothing_created(kube, shop_backup, namespace)


def test_mapping_to_an_invalid_namespace_name(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, shop_backup: Path
) -> None:
    res = backupctl(
        "restore", "create", "--from-backup", "shop", "--location", shop_backup.as_uri(),
        "--kubeconfig", str(cluster.kubeconfig), "--namespace-mappings", f"{namespace}:Shop_Restored",
    )  # fmt: skip
    assert "invalid namespace mapping target 'Shop_Restored'" in error_line(res)
    assert res.returncode == 2
    assert_nothing_created(kube, shop_backup, namespace)


def test_read_only_location_restores_without_recording(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, shop_backup: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"locations:\n- name: vault\n  url: {shop_backup.as_uri()}\n  access_mode: ReadOnly\n"
    )
    code, out, err = restore(
        cluster.kubeconfig, "vault", "--from-backup", "shop",
        "--namespace-mappings", f"{namespace}:{namespace}-ro",
        env={"BACKUPD_CONFIG": str(config)},
    )  # fmt: skip
    assert code == 0, err
    assert counts(out)["created"] > 10
    assert any("results not stored" in w["message"] for w in out["status"]["warnings"])
    assert not (shop_backup / "restores").exists()
    client.CoreV1Api(kube).delete_namespace(f"{namespace}-ro")
