"""The Velero/kubectl reflexes that need a cluster, as real processes against the sandbox:
`-l` selects what a backup takes, `--wait` on a synchronous restore, `version` reads the
controller's Deployment, Tab completes the cluster's namespaces."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl
from tests.fixtures.clusters import api_client
from tests.fixtures.workloads import configmap, meta

pytestmark = pytest.mark.integration


@dataclass
class Labelled:
    """A namespace with a ConfigMap labelled app=web and one that is not."""

    namespace: str
    env: dict[str, str]
    core: client.CoreV1Api

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        res = backupctl(*args, env={**self.env, **env}, timeout=180)
        assert "Traceback" not in res.stderr, res.stderr
        return res

    def ok(self, *args: str) -> str:
        res = self.run(*args)
        assert res.returncode == 0, res.stderr
        return res.stdout


@pytest.fixture()
def labelled(cluster: Sandbox, tmp_path: Path) -> Iterator[Labelled]:
    ns = f"conform-{uuid.uuid4().hex[:6]}"
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "BACKUPD_LOCATION": (tmp_path / "store").as_uri(),
    }
    with api_client(cluster.kubeconfig) as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": ns}})
        web = configmap("web-settings", mode="on")
        web["metadata"] = meta("web-settings", app="web")
        core.create_namespaced_config_map(ns, web)
        core.create_namespaced_config_map(ns, configmap("db-settings", mode="off"))
        yield Labelled(ns, env, core)
        for name in (ns, f"{ns}-copy"):
            with contextlib.suppress(client.ApiException):
                core.delete_namespace(name, propagation_policy="Background")


def test_dash_l_is_the_label_selector_of_backup_create(labelled: Labelled) -> None:
    ns = labelled.namespace
    labelled.ok("backup", "create", "web-only", "-n", ns, "-l", "app=web")
    [backup] = json.loads(labelled.ok("backup", "get", "-o", "json"))["items"]
    assert backup["spec"]["labelSelector"] == "app=web"
    assert backup["spec"]["includedNamespaces"] == [ns]
    assert "mode: 'on'" in labelled.ok("backup", "show", "web-only", "cm/web-settings", "-n", ns)
    missing = labelled.run("backup", "show", "web-only", "cm/db-settings", "-n", ns)
    assert missing.returncode != 0 and "db-settings" in missing.stderr


def test_restore_create_waits_and_describe_details_lists_each_item(labelled: Labelled) -> None:
    ns = labelled.namespace
    labelled.ok("backup", "create", "all-of-it", "-n", ns)
    labelled.ok(
        "restore",
        "create",
        "copy",
        "--from-backup",
        "all-of-it",
        "--namespace-mappings",
        f"{ns}:{ns}-copy",
        "--wait",
    )
    copied = labelled.core.read_namespaced_config_map("db-settings", f"{ns}-copy")
    assert copied.data == {"mode": "off"}  # done when the command returned
    details = labelled.ok("restore", "describe", "copy", "--details")
    rows = [line.split() for line in details[details.index("Items") :].splitlines()]
    assert ["created", "configmaps", f"{ns}-copy", "web-settings"] in rows
    labelled.ok("restore", "delete", "copy", "--yes")
    assert json.loads(labelled.ok("restore", "get", "-o", "json"))["items"] == []
    # the record went, never the restored objects
    assert labelled.core.read_namespaced_config_map("web-settings", f"{ns}-copy").data


def test_version_reads_the_controllers_deployment(labelled: Labelled, cluster: Sandbox) -> None:
    ns = labelled.namespace
    absent = json.loads(labelled.ok("version", "--controller-namespace", ns, "-o", "json"))
    assert absent["serverVersion"] == {
        "installed": False,
        "state": "not installed",
        "reason": f"no deployment backupd in namespace {ns}",
    }
    with api_client(cluster.kubeconfig) as api:
        container = {"name": "backupd", "image": "registry.example/backupd:9.8.7"}
        client.AppsV1Api(api).create_namespaced_deployment(
            ns,
            {
                "metadata": {"name": "backupd"},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": "backupd"}},
                    "template": {
                        "metadata": {"labels": {"app": "backupd"}},
                        "spec": {"containers": [container]},
                    },
                },
            },
        )
    shown = labelled.ok("version", "--controller-namespace", ns)
    assert shown.splitlines()[1].startswith(
        f"Server Version: 9.8.7 (image registry.example/backupd:9.8.7, namespace {ns}"
    )


def test_tab_completes_the_clusters_namespaces(labelled: Labelled) -> None:
    ns = labelled.namespace
    res = labelled.run(
        _BACKUPCTL_COMPLETE="complete_bash",
        COMP_WORDS=f"backupctl backup create x -n {ns[:9]}",
        COMP_CWORD="5",
    )
    assert res.returncode == 0 and ns in res.stdout.split(), res.stdout
    listed = labelled.run(
        _BACKUPCTL_COMPLETE="complete_bash",
        COMP_WORDS=f"backupctl backup create x -n default,{ns[:9]}",
        COMP_CWORD="5",
    )
    assert f"default,{ns}" in listed.stdout.split()
