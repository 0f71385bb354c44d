"""`backupctl backup create --in-cluster` and `restore create --in-cluster`: the CLI creates
the resource, the controller (a real process under deploy/'s RBAC) runs it, and the CLI
follows it to its end and exits as the local run would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from kubernetes import client

from backupd.api.crds import GROUP, KINDS, VERSION
from backupd.cluster.client import KubeClient
from backupd.errors import ClusterNotFound
from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, error_line
from tests.integration.controller_support import (
    NAMESPACE,
    Env,
    allow_restoring,
    ctl_fixture,
    location,
    phases,
    wait_for,
)

pytestmark = pytest.mark.integration


ctl = ctl_fixture()


def as_admin(box: Sandbox) -> dict[str, str]:
    """backupctl as the person at the keyboard: the sandbox's admin kubeconfig."""
    return {"KUBECONFIG": str(box.kubeconfig), "BACKUPD_NAMESPACE": ""}


def test_backup_and_restore_in_cluster_are_run_by_the_controller_and_followed_to_the_end(
    ctl: Env, kube: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube)
    settings = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings"), data={"colour": "blue"}
    )
    core.create_namespaced_config_map(namespace, settings)
    location(ctl.res, "main", f"file://{ctl.tmp / 'store'}")
    location(ctl.res, "archive", f"file://{ctl.tmp / 'old'}", default=False, accessMode="ReadOnly")
    c = ctl.controller().start()
    try:
        with allow_restoring(ctl.admin):
            backed_up = backupctl(
                "backup",
                "create",
                "by-hand",
                "--in-cluster",
                "--include-namespaces",
                namespace,
                "--location",
                "main",
                "-o",
                "json",
                env=as_admin(ctl.box),
            )
            assert backed_up.returncode == 0, backed_up.stderr
            printed = json.loads(backed_up.stdout)
            assert printed["kind"] == "Backup" and printed["status"]["phase"] == "Completed"
            resource = ctl.res.get("backups", "by-hand")
            assert resource is not None and phases([resource]) == ["Completed"]
            assert resource["spec"]["includedNamespaces"] == [namespace]
            assert resource["status"]["progress"]["itemsBackedUp"] >= 1

            core.delete_namespaced_config_map("settings", namespace)
            restored = backupctl(
                "restore",
                "create",
                "--from-backup",
                "by-hand",
                "--in-cluster",
                env=as_admin(ctl.box),
            )
            assert restored.returncode == 0, restored.stderr
            assert "Completed from backup by-hand" in restored.stdout, restored.stdout
            assert core.read_namespaced_config_map("settings", namespace).data == {"colour": "blue"}
            made = [r for r in ctl.res.list("restores") if r["spec"]["backupName"] == "by-hand"]
            assert phases(made) == ["Completed"]

        # a backup the controller fails exits non-zero with its reason, as a local one does
        refused = backupctl(
            "backup",
            "create",
            "to-archive",
            "--in-cluster",
            "--include-namespaces",
            namespace,
            "--location",
            "archive",
            env=as_admin(ctl.box),
        )
        line = error_line(refused)
        assert "backup to-archive Failed" in line and "ReadOnly" in line, line
        assert refused.returncode == 1
    finally:
        c.stop()


def test_no_wait_prints_the_name_and_ctrl_c_stops_following_but_not_the_backup(
    ctl: Env, namespace: str
) -> None:
    # no controller runs: the resources stay New, which is all this test needs
    location(ctl.res, "main", f"file://{ctl.tmp / 'store'}")
    quick = backupctl(
        "backup", "create", "queued", "--in-cluster", "--no-wait", env=as_admin(ctl.box)
    )
    assert quick.returncode == 0, quick.stderr
    assert quick.stdout == "queued\n"
    assert phases([ctl.res.get("backups", "queued") or {}]) == ["New"]

    again = backupctl("backup", "create", "queued", "--in-cluster", env=as_admin(ctl.box))
    assert "backup queued already exists in namespace backupd" in error_line(again)

    followed = subprocess.Popen(
        [sys.executable, "-m", "cli", "backup", "create", "watched", "--in-cluster"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **as_admin(ctl.box)},
    )
    try:
        wait_for("the Backup resource", lambda: ctl.res.get("backups", "watched"), 60)
        time.sleep(1.5)  # it follows the resource now
        followed.send_signal(signal.SIGINT)
        _, err = followed.communicate(timeout=30)
    finally:
        if followed.poll() is None:
            followed.kill()
    assert followed.returncode == 130, err
    assert "Traceback" not in err
    assert "keeps running in the cluster" in err and f"-n {NAMESPACE}" in err, err
    assert ctl.res.get("backups", "watched") is not None


def without_crds(box: Sandbox) -> None:
    """The sandbox as a new cluster: no backupd CRDs (another test may have added them)."""
    admin = KubeClient.from_kubeconfig(box.kubeconfig)
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for kind in KINDS:
        with contextlib.suppress(ClusterNotFound):
            admin.delete(f"{base}/{kind.plural}.{GROUP}")

    def gone() -> bool:
        try:
            admin.get(f"/apis/{GROUP}/{VERSION}")
        except ClusterNotFound:
            return True
        return False

    wait_for("the backupd CRDs gone", gone, 60)


def test_in_cluster_where_backupd_is_not_installed_is_one_error_line(
    second_cluster: Sandbox,
) -> None:
    without_crds(second_cluster)
    env = {"KUBECONFIG": str(second_cluster.kubeconfig)}
    for args in (
        ("backup", "create", "nightly", "--in-cluster"),
        ("restore", "create", "--from-backup", "nightly", "--in-cluster"),
    ):
        line = error_line(backupctl(*args, env=env))
        assert "backupd is not installed in this cluster" in line, line
        assert "run without --in-cluster" in line, line
