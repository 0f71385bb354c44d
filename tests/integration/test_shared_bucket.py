"""One bucket, two clusters: each picks its own latest backup unless told otherwise."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from backupd.api.backup import SCHEDULE_LABEL
from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl
from tests.fixtures.clusters import api_client
from tests.integration.restore_support import apply, backup, restore

pytestmark = pytest.mark.integration

SETTINGS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: production}
"""


def kube_system_uid(kubeconfig: Path) -> str:
    with api_client(kubeconfig) as api:
        return str(client.CoreV1Api(api).read_namespace("kube-system").metadata.uid)


@pytest.fixture()
def shared_namespace(cluster: Sandbox, second_cluster: Sandbox) -> Iterator[str]:
    """The same namespace, with the same objects, in both clusters."""
    name = f"shared-{uuid.uuid4().hex[:6]}"
    for box in (cluster, second_cluster):
        apply(box.kubeconfig, f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
        apply(box.kubeconfig, SETTINGS, name)
    yield name
    for box in (cluster, second_cluster):
        with api_client(box.kubeconfig) as api:
            client.CoreV1Api(api).delete_namespace(name, propagation_policy="Background")


def latest(kubeconfig: Path, url: str, namespace: str, *extra: str) -> str:
    res = backupctl(
        "backup", "get", "--latest", "-n", namespace, "--location", url, "--kubeconfig", str(kubeconfig),
        "-o", "name", *extra,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_latest_picks_the_current_clusters_backup_even_when_the_other_is_newer(
    cluster: Sandbox, second_cluster: Sandbox, shared_namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "shared").as_uri()
    a, b = cluster.kubeconfig, second_cluster.kubeconfig
    nightly = {SCHEDULE_LABEL: "nightly"}
    first_a = backup(a, url, "a-1", shared_namespace, labels=nightly)
    time.sleep(1.1)  # creation times have one-second resolution
    backup(b, url, "b-1", shared_namespace, labels=nightly)
    time.sleep(1.1)
    backup(a, url, "a-2", shared_namespace, labels=nightly)

    assert first_a.status.cluster.id == kube_system_uid(a)
    assert first_a.status.cluster.server.startswith("https://127.0.0.1:")
    assert latest(a, url, shared_namespace) == "a-2"
    assert latest(b, url, shared_namespace) == "b-1"  # a-2 is newer, but from the other cluster
    assert latest(b, url, shared_namespace, "--any-cluster") == "a-2"
    assert latest(b, url, shared_namespace, "--cluster", kube_system_uid(a)) == "a-2"

    code, out, err = restore(
        b, url, "--from-schedule", "nightly", "-n", shared_namespace, "--dry-run"
    )
    assert code == 0, err
    status = out["restore"]["status"]
    assert status["backupName"] == "b-1"
    assert not [w for w in status.get("warnings", []) if "lift-and-shift" in w["message"]]


def test_a_restore_from_another_clusters_backup_says_so_in_the_plan_and_the_result(
    cluster: Sandbox, second_cluster: Sandbox, shared_namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "shared").as_uri()
    a, b = cluster.kubeconfig, second_cluster.kubeconfig
    backup(a, url, "from-a", shared_namespace, labels={SCHEDULE_LABEL: "nightly"})
    expected = (
        f"lift-and-shift: backup from-a came from cluster {kube_system_uid(a)} at "
        f"{first_server(a)}; restoring into cluster {kube_system_uid(b)} at {first_server(b)}"
    )

    code, _, err = restore(b, url, "--from-schedule", "nightly", "-n", shared_namespace)
    assert code != 0 and "no Completed backup of schedule nightly from this cluster" in err
    assert "--any-cluster" in err

    code, plan, err = restore(
        b, url, "--from-backup", "from-a", "-n", shared_namespace, "--dry-run"
    )
    assert code == 0, err
    assert expected in [w["message"] for w in plan["restore"]["status"]["warnings"]]

    code, done, err = restore(
        b, url, "--from-schedule", "nightly", "--any-cluster", "-n", shared_namespace
    )
    assert code == 0, err
    assert done["status"]["backupName"] == "from-a"
    assert expected in [w["message"] for w in done["status"]["warnings"]]
    described = backupctl("restore", "describe", done["metadata"]["name"], "--location", url)
    assert described.returncode == 0, described.stderr
    assert "lift-and-shift: backup from-a came from cluster" in described.stdout


def first_server(kubeconfig: Path) -> str:
    with api_client(kubeconfig) as api:
        return str(api.configuration.host).rstrip("/")
