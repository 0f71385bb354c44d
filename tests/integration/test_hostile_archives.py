"""Acceptance: hostile archives, each built by the test and stored with digests that all
agree, are refused by `restore create`, `backup show` and `backup verify` run as real
processes: one error line, a non-zero exit, nothing created in the cluster, peak RSS
under 300 MB, and no file written outside the process's own directories."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.objectstores import MinioServer
from backupd.storage.location import open_location
from tests.fixtures import hostile
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.hostile import CASES, Case, Measured
from tests.fixtures.objectstores import unique_bucket
from tests.integration.restore_support import backup, create_shop

pytestmark = pytest.mark.integration

PEAK_LIMIT_MB = 300


def tree(root: Path) -> set[str]:
    """Every path under `root` (files, directories, links), relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


class Sandboxed:
    """Directories a command runs in: its cwd, HOME and TMPDIR, all empty, and `outside`,
    where hostile names point."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.cwd, self.home, self.tmp = tmp_path / "cwd", tmp_path / "home", tmp_path / "tmp"
        self.outside = tmp_path / "outside"
        for d in (self.cwd, self.home, self.tmp, self.outside):
            d.mkdir()
        self.env = {"HOME": str(self.home), "TMPDIR": str(self.tmp), "BACKUPD_DEBUG": ""}

    def run(self, *args: str, env: dict[str, str] | None = None) -> Measured:
        return hostile.run_measured(*args, cwd=self.cwd, env={**self.env, **(env or {})})


def refused_everywhere(
    case: Case,
    box: Sandboxed,
    cluster: Sandbox,
    url: str,
    namespace: str,
    env: dict[str, str] | None = None,
) -> dict[str, Measured]:
    location = ("--location", url)
    runs = {
        "restore": box.run(
            "restore", "create", "--from-backup", "evil", *location,
            "--kubeconfig", str(cluster.kubeconfig), env=env,
        ),
        "show": box.run("backup", "show", "evil", case.show, "-n", namespace, *location, env=env),
        "verify": box.run("backup", "verify", "evil", *location, env=env),
    }  # fmt: skip
    for what, res in runs.items():
        line = error_line(res)  # type: ignore[arg-type]  # the same fields as CompletedProcess
        assert case.refusal in line and "backup evil" in line, (what, line)
        assert res.peak_mb < PEAK_LIMIT_MB, (what, res.peak_mb)
        assert res.stdout.strip() == "" or what == "verify", (what, res.stdout)
    return runs


def assert_nothing_created(kube: client.ApiClient, namespace: str) -> None:
    with pytest.raises(ApiException) as e:
        client.CoreV1Api(kube).read_namespace(namespace)
    assert e.value.status == 404


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_archive_is_refused_and_changes_nothing(
    cluster: Sandbox, kube: client.ApiClient, tmp_path: Path, name: str
) -> None:
    namespace = f"hostile-{uuid.uuid4().hex[:8]}"
    box = Sandboxed(tmp_path)
    case = CASES[name](namespace, box.outside)
    store = tmp_path / "store"
    build = tmp_path / "build"
    build.mkdir()
    hostile.store(open_location(store.as_uri()), "evil", case, build)
    stored_before = tree(store)
    siblings_before = set(os.listdir(tmp_path.parent))

    runs = refused_everywhere(case, box, cluster, store.as_uri(), namespace)

    assert_nothing_created(kube, namespace)
    assert tree(store) == stored_before  # no restore record, nothing beside it
    for d in (box.cwd, box.home, box.tmp, box.outside, build):
        assert tree(d) == set(), d
    assert all(not p.exists() and not p.is_symlink() for p in case.outside)
    assert set(os.listdir(tmp_path.parent)) == siblings_before
    peaks = {what: round(r.peak_mb) for what, r in runs.items()}
    print(f"{name}: peak RSS MB {peaks}, seconds {[round(r.seconds, 1) for r in runs.values()]}")


def test_a_hostile_archive_on_minio_is_refused(
    cluster: Sandbox, kube: client.ApiClient, tmp_path: Path, minio_server: MinioServer
) -> None:
    namespace = f"hostile-{uuid.uuid4().hex[:8]}"
    box = Sandboxed(tmp_path)
    case = hostile.duplicate_and_missing(namespace, box.outside)
    url = minio_server.url(minio_server.create_bucket(unique_bucket("hostile")), "data")
    location = open_location(url, credentials=minio_server.credentials)
    build = tmp_path / "build"
    build.mkdir()
    hostile.store(location, "evil", case, build)
    keys_before = location.list("")

    refused_everywhere(case, box, cluster, url, namespace, env=minio_server.credentials)

    assert_nothing_created(kube, namespace)
    assert location.list("") == keys_before
    for d in (box.cwd, box.home, box.tmp):
        assert tree(d) == set(), d


def test_a_real_backup_verifies_with_every_object_read(
    cluster: Sandbox, namespace: str, tmp_path: Path
) -> None:
    """What backupd writes passes every check it makes when reading, objects included."""
    create_shop(cluster.kubeconfig, namespace)
    store = (tmp_path / "store").as_uri()
    made = backup(cluster.kubeconfig, store, "real", namespace)
    res = backupctl("backup", "verify", "real", "--read-data", "--location", store, "-o", "json")
    assert res.returncode == 0, res.stderr
    [verdict] = json.loads(res.stdout)["items"]
    assert verdict["verified"] and verdict["checked"][-1] == "objects"
    assert verdict["items"] == made.status.progress.items_backed_up > 10
