"""The runbooks' commands, run as written against real sandboxes.

Every ```bash block of a runbook is joined, in order, into one script that runs
under `bash -euo pipefail`, with the environment a reader would have set up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backupd.sandbox import binaries
from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl

pytestmark = pytest.mark.integration

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
SAMPLE_APP = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "shop.yaml"
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def commands(runbook: str) -> str:
    blocks = _BLOCK.findall((RUNBOOKS / runbook).read_text())
    assert blocks, f"{runbook} has no bash blocks"
    return "\n".join(blocks)


def run_runbook(runbook: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{binaries.binary_dir('kubernetes')}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    res = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands(runbook)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env, "PATH": path},
    )
    assert res.returncode == 0, f"{runbook} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binaries.binary("kubernetes", "kubectl")), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def deploy_sample_app(kubeconfig: Path) -> None:
    applied = kubectl(kubeconfig, "apply", "-f", str(SAMPLE_APP))
    assert applied.returncode == 0, applied.stderr
    ready = kubectl(
        kubeconfig,
        "-n",
        "shop",
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "--timeout=120s",
    )
    assert ready.returncode == 0, ready.stderr


@pytest.fixture()
def runbook_cluster(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "rb", name="runbook") as box:
        yield box


def test_incident_restore_runbook_brings_a_deleted_namespace_back(
    tmp_path: Path, runbook_cluster: Sandbox
) -> None:
    kc = runbook_cluster.kubeconfig
    env = {
        "KUBECONFIG": str(kc),
        "BACKUPD_LOCATION": f"file://{tmp_path / 'store'}",
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "NAMESPACE": "shop",
    }
    deploy_sample_app(kc)
    made = backupctl("backup", "create", "nightly-1", "--include-namespaces", "shop", env=env)
    assert made.returncode == 0, made.stderr
    assert (
        kubectl(kc, "delete", "namespace", "shop", "--wait=true", "--timeout=120s").returncode == 0
    )

    out = run_runbook("incident-restore.md", env)
    assert "restoring from backup: nightly-1" in out.stdout
    scope = next(line for line in out.stdout.splitlines() if line.startswith("nightly-1 "))
    assert "ns=shop" in scope.split()  # the scope check step shows what the backup took
    pods = kubectl(kc, "-n", "shop", "get", "pods", "-o", "jsonpath={.items[*].status.phase}")
    assert pods.stdout.split() == ["Running", "Running"]
    settings = kubectl(
        kc, "-n", "shop", "get", "configmap", "settings", "-o", "jsonpath={.data.mode}"
    )
    assert settings.stdout == "production"


def test_inspect_runbook_shows_and_diffs(tmp_path: Path, runbook_cluster: Sandbox) -> None:
    kc = runbook_cluster.kubeconfig
    env = {
        "KUBECONFIG": str(kc),
        "BACKUPD_LOCATION": f"file://{tmp_path / 'store'}",
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
    }
    deploy_sample_app(kc)
    assert (
        backupctl("backup", "create", "monday", "--include-namespaces", "shop", env=env).returncode
        == 0
    )
    patched = kubectl(
        kc, "-n", "shop", "patch", "configmap", "settings", "-p", '{"data":{"mode":"maintenance"}}'
    )
    assert patched.returncode == 0
    time.sleep(1.1)  # creation timestamps have one-second resolution; keep the order clear
    assert (
        backupctl("backup", "create", "tuesday", "--include-namespaces", "shop", env=env).returncode
        == 0
    )
    out = run_runbook("inspect-backups.md", env).stdout
    assert "mode: maintenance" in out  # show prints the newest backup's version
    assert "data.mode: 'production' -> 'maintenance'" in out
    assert "demo-password-not-real" not in out


def test_migration_runbook_moves_a_namespace_to_another_cluster(
    tmp_path: Path, runbook_cluster: Sandbox, second_cluster: Sandbox
) -> None:
    source, target = runbook_cluster.kubeconfig, second_cluster.kubeconfig
    deploy_sample_app(source)
    env = {
        "SOURCE_KUBECONFIG": str(source),
        "TARGET_KUBECONFIG": str(target),
        "BACKUPD_LOCATION": f"file://{tmp_path / 'store'}",
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "NAMESPACE": "shop",
        "NEW_NAMESPACE": "shop-moved",
    }
    run_runbook("migration.md", env)
    pods = kubectl(
        target, "-n", "shop-moved", "get", "pods", "-o", "jsonpath={.items[*].status.phase}"
    )
    assert pods.stdout.split() == ["Running", "Running"]
    assert kubectl(source, "get", "namespace", "shop").returncode == 0  # the source is untouched
