"""The runbooks' commands, run as written against real sandboxes.

tests.fixtures.runbooks.run_runbook runs every ```bash block of a runbook, in order,
in one `bash -euo pipefail`, with the environment a reader would have set up, and
checks each step printed the lines its ```text block says you will see. Each test
works in namespaces of its own on the session's sandboxes.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, kubectl
from tests.fixtures.runbooks import deploy_sample_app, run_runbook

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def location_env(tmp_path: Path) -> dict[str, str]:
    return {
        "BACKUPD_LOCATION": f"file://{tmp_path / 'store'}",
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
    }


def test_incident_restore_runbook_brings_a_deleted_namespace_back(
    tmp_path: Path, cluster: Sandbox
) -> None:
    kc, ns = cluster.kubeconfig, unique("shop")
    env = {**location_env(tmp_path), "KUBECONFIG": str(kc), "NAMESPACE": ns}
    deploy_sample_app(kc, ns)
    made = backupctl("backup", "create", "nightly-1", "--include-namespaces", ns, env=env)
    assert made.returncode == 0, made.stderr
    kubectl(kc, "delete", "namespace", ns, "--wait=true", "--timeout=120s")

    out = run_runbook("incident-restore.md", env)
    assert "restoring from backup: nightly-1" in out.stdout
    assert f"ns={ns}" in out.stdout.split()  # the scope check step shows what the backup took
    pods = kubectl(kc, "-n", ns, "get", "pods", "-o", "jsonpath={.items[*].status.phase}")
    assert pods.split() == ["Running", "Running"]
    mode = kubectl(kc, "-n", ns, "get", "configmap", "settings", "-o", "jsonpath={.data.mode}")
    assert mode == "production"


def test_inspect_runbook_shows_and_diffs(tmp_path: Path, cluster: Sandbox) -> None:
    kc, ns = cluster.kubeconfig, unique("shop")
    env = {**location_env(tmp_path), "KUBECONFIG": str(kc), "NAMESPACE": ns}
    deploy_sample_app(kc, ns)
    monday = backupctl("backup", "create", "monday", "--include-namespaces", ns, env=env)
    assert monday.returncode == 0, monday.stderr
    patch = '{"data":{"mode":"maintenance"}}'
    kubectl(kc, "-n", ns, "patch", "configmap", "settings", "-p", patch)
    time.sleep(1.1)  # creation timestamps have one-second resolution; keep the order clear
    tuesday = backupctl("backup", "create", "tuesday", "--include-namespaces", ns, env=env)
    assert tuesday.returncode == 0, tuesday.stderr

    out = run_runbook("inspect-backups.md", env).stdout
    assert "mode: maintenance" in out  # show prints the newest backup's version
    assert "data.mode: 'production' -> 'maintenance'" in out
    assert "demo-password-not-real" not in out


def test_migration_runbook_moves_a_namespace_to_another_cluster(
    tmp_path: Path, cluster: Sandbox, second_cluster: Sandbox
) -> None:
    source, target, ns = cluster.kubeconfig, second_cluster.kubeconfig, unique("shop")
    deploy_sample_app(source, ns)
    env = {
        **location_env(tmp_path),
        "SOURCE_KUBECONFIG": str(source),
        "TARGET_KUBECONFIG": str(target),
        "NAMESPACE": ns,
        "NEW_NAMESPACE": f"{ns}-moved",
    }
    run_runbook("migration.md", env)
    pods = kubectl(
        target, "-n", f"{ns}-moved", "get", "pods", "-o", "jsonpath={.items[*].status.phase}"
    )
    assert pods.split() == ["Running", "Running"]
    kubectl(source, "get", "namespace", ns)  # the source is untouched
