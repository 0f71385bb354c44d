"""runbooks/install-and-upgrade.md, run as written on a sandbox of its own (it
removes backupd's CRDs and namespace at the end, which the session's sandboxes keep).

The sandbox's nodes are fake (kwok): the Deployment's Pods report Running without
running anything. So between "check that the controller runs" and "where to store
backups", the test starts `backupd run` as a local process with the ServiceAccount
the installation created, standing in for those Pods: the StorageLocation becomes
Available and the first backup runs through it, as they would in a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backupd.cluster.client import KubeClient
from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, kubectl
from tests.fixtures.runbooks import run_runbook
from tests.integration.controller_support import Controller, service_account_kubeconfig

pytestmark = pytest.mark.integration

RUNBOOK = "install-and-upgrade.md"


@pytest.fixture()
def own_cluster(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box", name="install-runbook") as box:
        yield box


def test_install_runbook_installs_runs_a_backup_upgrades_and_removes(
    tmp_path: Path, own_cluster: Sandbox
) -> None:
    store = tmp_path / "store"
    env = {
        "KUBECONFIG": str(own_cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "BACKUPD_IMAGE": "registry.invalid/backupd:0.1.0",
        "LOCATION_URL": store.as_uri(),
        "AWS_ACCESS_KEY_ID": "not-used-by-file-urls",
        "AWS_SECRET_ACCESS_KEY": "not-used-by-file-urls",
    }
    run_runbook(RUNBOOK, env, sections=["1.", "2.", "3.", "4.", "5."])
    image = kubectl(
        own_cluster.kubeconfig,
        "-n",
        "backupd",
        "get",
        "deployment/backupd",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    )
    assert image == "registry.invalid/backupd:0.1.0"

    admin = KubeClient.from_kubeconfig(own_cluster.kubeconfig)
    sa = service_account_kubeconfig(own_cluster, admin, tmp_path / "sa.kubeconfig")
    controller = Controller(sa, tmp_path / "backupd.log").start()
    try:
        run_runbook(RUNBOOK, env, sections=["1.", "6.", "7."])
    finally:
        controller.stop()
    listed = backupctl("backup", "get", "--location", store.as_uri(), "-o", "name", env=env)
    assert listed.stdout.startswith("install-check-"), listed.stdout + listed.stderr

    run_runbook(RUNBOOK, env, sections=["1.", "8.", "9."])
    crds = kubectl(own_cluster.kubeconfig, "get", "crds", "-o", "name")
    assert "backupd.io" not in crds
    after = backupctl("backup", "get", "--location", store.as_uri(), "-o", "name", env=env)
    assert after.stdout == listed.stdout  # removing backupd keeps the bucket's backups
