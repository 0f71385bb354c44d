"""runbooks/volume-data.md, run as written against the CSI sandbox: the restored
namespace's claim holds the same files, and the backup's snapshot is deleted."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from backupd.sandbox import binaries
from backupd.sandbox.cluster import Sandbox
from tests.fixtures.clusters import api_client
from tests.fixtures.runbooks import run_runbook
from tests.integration.volume_support import MB, bound_dir, checksums, make_claim, write_files

pytestmark = pytest.mark.integration


def test_volume_data_runbook_restores_the_files_into_a_new_namespace(
    csi_cluster: Sandbox, tmp_path: Path
) -> None:
    ns = f"rb-{uuid.uuid4().hex[:6]}"
    with api_client(csi_cluster.kubeconfig) as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": ns}})
        make_claim(core, ns, "data")
        sums = write_files(bound_dir(core, csi_cluster.csi_data_dir, ns, "data"), big=MB)
        path = f"{binaries.binary_dir('kubernetes')}:{Path(sys.executable).parent}"
        env = {
            **os.environ,
            "PATH": f"{path}:{os.environ['PATH']}",
            "KUBECONFIG": str(csi_cluster.kubeconfig),
            "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
            "BACKUPD_LOCATION": f"file://{tmp_path / 'store'}",
            "NAMESPACE": ns,
        }
        res = run_runbook("volume-data.md", env)
        assert res.returncode == 0, f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        assert "Ready" in res.stdout and "Bound" in res.stdout
        assert "deleted 1 volume snapshot(s)" in res.stderr
        restored = bound_dir(core, csi_cluster.csi_data_dir, f"{ns}-restored", "data")
        assert checksums(restored) == sums
        for name in (ns, f"{ns}-restored"):
            core.delete_namespace(name)
