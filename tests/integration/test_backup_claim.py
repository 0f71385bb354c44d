"""Exactly one backup per name: two `backupctl backup create` of one name started
together, as two people (or a schedule and a person) would, on a local directory and
on MinIO."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from backupd.api.common import Phase
from backupd.sandbox import objectstores
from backupd.sandbox.cluster import Sandbox
from backupd.storage import records
from backupd.storage.claims import claim_key
from backupd.storage.layout import BackupKeys
from backupd.storage.location import Location, open_location
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.objectstores import unique_bucket
from tests.fixtures.workloads import configmap

pytestmark = pytest.mark.integration


@dataclass
class Target:
    url: str
    credentials: dict[str, str] | None

    def open(self) -> Location:
        return open_location(self.url, credentials=self.credentials)


@pytest.fixture(params=["local", "minio"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "local":
        return Target((tmp_path / "store").as_uri(), None)
    server: objectstores.MinioServer = request.getfixturevalue("minio_server")
    bucket = server.create_bucket(unique_bucket("claim"))
    return Target(server.url(bucket, "data"), server.credentials)


def cli_env(tmp_path: Path, cluster: Sandbox, target: Target) -> dict[str, str]:
    return {
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "BACKUPD_LOCATION": target.url,
        "BACKUPD_STAGING_DIR": str(tmp_path / "staging"),
        **(target.credentials or {}),
    }


def start_create(name: str, namespace: str, env: dict[str, str]) -> subprocess.Popen[str]:
    argv = ["backup", "create", name, "--include-namespaces", namespace, "-o", "json"]
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def test_two_concurrent_creates_of_one_name_exactly_one_succeeds(
    tmp_path: Path, cluster: Sandbox, kube: client.ApiClient, namespace: str, target: Target
) -> None:
    core = client.CoreV1Api(kube)
    for i in range(5):
        core.create_namespaced_config_map(namespace, configmap(f"cm-{i}", i=str(i)))
    env = cli_env(tmp_path, cluster, target)

    runs = [start_create("twin", namespace, env) for _ in range(2)]
    outcomes = [(p.wait(timeout=300), *p.communicate()) for p in runs]

    codes = sorted(code for code, _, _ in outcomes)
    assert codes[0] == 0 and codes[1] != 0, outcomes
    (_, out, _), (_, _, err) = sorted(outcomes, key=lambda o: o[0])
    assert json.loads(out)["status"]["phase"] == "Completed"
    loser = subprocess.CompletedProcess([], 1, "", err)
    assert f"backup 'twin' already exists in {target.open().url}" in error_line(loser)

    location = target.open()
    stored = records.load_backup(location, "twin")
    assert stored.status.phase is Phase.completed
    archive, index = stored.status.archive, stored.status.index
    assert archive is not None and index is not None
    location.get_bytes(archive.key, sha256=archive.sha256)  # intact: the digests match
    location.get_bytes(index.key, sha256=index.sha256)
    verified = backupctl("backup", "verify", "twin", "--read-data", env=env)
    assert verified.returncode == 0, verified.stderr
    keys = BackupKeys("twin")
    assert set(location.list("backups/")) == {
        claim_key("backups", "twin"),
        keys.metadata,
        keys.archive("gzip"),
        keys.index,
        keys.log,
    }
    assert location.pending_uploads("backups/") == []
    assert list((tmp_path / "staging").iterdir()) == []  # no archive left in clear


def test_a_create_that_fails_before_storing_anything_gives_the_name_back(
    tmp_path: Path, cluster: Sandbox, namespace: str, target: Target
) -> None:
    env = cli_env(tmp_path, cluster, target)
    failed = backupctl("backup", "create", "retry-me", "--include-namespaces", "no-such", env=env)
    assert "namespace(s) not found" in error_line(failed)
    assert target.open().list("backups/") == []
    again = backupctl("backup", "create", "retry-me", "--include-namespaces", namespace, env=env)
    assert again.returncode == 0, again.stderr


def test_a_second_create_of_a_finished_backup_is_refused_and_changes_nothing(
    tmp_path: Path, cluster: Sandbox, namespace: str, target: Target
) -> None:
    env = cli_env(tmp_path, cluster, target)
    first = backupctl("backup", "create", "once", "--include-namespaces", namespace, env=env)
    assert first.returncode == 0, first.stderr
    location = target.open()
    before = {key: location.get_bytes(key) for key in location.list("backups/")}
    second = backupctl("backup", "create", "once", "--include-namespaces", namespace, env=env)
    assert "backup 'once' already exists" in error_line(second)
    assert {key: location.get_bytes(key) for key in location.list("backups/")} == before
