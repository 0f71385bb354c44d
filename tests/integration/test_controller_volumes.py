"""A Backup resource run by the controller (under deploy/'s ServiceAccount and RBAC)
snapshots the claims it covers, as `backupctl backup create` does."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from backupd.storage import records, volumesnapshots
from backupd.storage.location import open_location
from tests.fixtures.clusters import api_client
from tests.integration.controller_support import Env, ctl_fixture, location, phases, wait_final
from tests.integration.volume_support import bound_dir, make_claim, write_files

pytestmark = pytest.mark.integration


ctl = ctl_fixture("csi_cluster")


def test_a_backup_resource_snapshots_the_claims_it_covers(
    ctl: Env, csi_cluster: Sandbox, tmp_path: Path
) -> None:
    with api_client(csi_cluster.kubeconfig) as api:
        core = client.CoreV1Api(api)
        ns = f"vol-{uuid.uuid4().hex[:6]}"
        core.create_namespace({"metadata": {"name": ns}})
        make_claim(core, ns, "data")
        write_files(bound_dir(core, csi_cluster.csi_data_dir, ns, "data"))
        url = f"file://{tmp_path / 'store'}"
        location(ctl.res, "main", url)
        c = ctl.controller().start()
        try:
            ctl.res.create(
                "backups", {"metadata": {"name": "with-data"}, "spec": {"includedNamespaces": [ns]}}
            )
            done = wait_final(ctl.res, "backups", "with-data", 120)
        finally:
            c.stop()
        assert phases([done]) == ["Completed"], done["status"]
        loc = open_location(url)
        stored = volumesnapshots.load(loc, records.load_backup(loc, "with-data"))
        assert stored is not None
        assert [(r.claim, r.state.value) for r in stored.items] == [("data", "Ready")]
        core.delete_namespace(ns)
