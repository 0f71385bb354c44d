"""README.md's first backup and restore, run as written on a sandbox of its own (it
uses the namespace `shop`, which other tests of the session's sandboxes use too);
the output the README shows under each block is checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import kubectl
from tests.fixtures.runbooks import run_runbook

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def own_cluster(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box", name="readme") as box:
        yield box


def test_readme_first_backup_and_restore_print_what_the_readme_shows(
    tmp_path: Path, own_cluster: Sandbox
) -> None:
    env = {
        "KUBECONFIG": str(own_cluster.kubeconfig),
        "HOME": str(tmp_path),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
    }
    run_runbook(ROOT / "README.md", env, sections=["A first backup and restore"], cwd=ROOT)
    mode = kubectl(
        own_cluster.kubeconfig, "-n", "shop", "get", "configmap", "settings",
        "-o", "jsonpath={.data.mode}",
    )  # fmt: skip
    assert mode == "production"
    assert (tmp_path / "backupd-demo" / "backups" / "shop-1").is_dir()
