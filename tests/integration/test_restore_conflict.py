"""Conflicts: objects changed since the backup are left alone and reported with a diff,
unless --existing-resource-policy update brings them back."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.waiting import eventually
from tests.integration.restore_support import (
    backup,
    counts,
    create_shop,
    restore,
    running_pods,
    wait_shop_running,
)

pytestmark = pytest.mark.integration


def test_changed_objects_are_left_alone_then_updated(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    core, apps = client.CoreV1Api(kube), client.AppsV1Api(kube)
    create_shop(cluster.kubeconfig, namespace)
    wait_shop_running(kube, namespace)
    backup(cluster.kubeconfig, url, "before-change", namespace)
    core.patch_namespaced_config_map("settings", namespace, {"data": {"mode": "debug"}})
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})

    code, left_alone, err = restore(cluster.kubeconfig, url, "--from-backup", "before-change")

    assert code == 0, err
    assert counts(left_alone).keys() == {"unchanged", "differs", "skipped"}
    assert counts(left_alone)["differs"] == 2
    warnings = {w["name"]: w for w in left_alone["status"]["warnings"]}
    assert set(warnings) == {"settings", "web"}
    assert "-  mode: debug" in warnings["settings"]["diff"]
    assert "+  mode: production" in warnings["settings"]["diff"]
    assert "-  replicas: 3" in warnings["web"]["diff"]
    assert "+  replicas: 2" in warnings["web"]["diff"]
    assert core.read_namespaced_config_map("settings", namespace).data["mode"] == "debug"
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 3

    code, updated, err = restore(
        cluster.kubeconfig, url, "--from-backup", "before-change",
        "--existing-resource-policy", "update",
    )  # fmt: skip

    assert code == 0, err
    assert counts(updated)["updated"] == 2
    assert counts(updated)["unchanged"] == counts(left_alone)["unchanged"]
    assert core.read_namespaced_config_map("settings", namespace).data["mode"] == "production"
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2
    eventually(lambda: running_pods(kube, namespace, "web") == 2, what="back to 2 web pods")

    code, again, err = restore(cluster.kubeconfig, url, "--from-backup", "before-change")
    assert code == 0, err
    assert counts(again).keys() == {"unchanged", "skipped"}


def test_a_changed_secret_is_reported_without_its_values(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    create_shop(cluster.kubeconfig, namespace)
    backup(cluster.kubeconfig, url, "secrets", namespace)
    client.CoreV1Api(kube).patch_namespaced_secret(
        "db", namespace, {"data": {"password": "bmV3LXZhbHVl"}}
    )

    code, out, err = restore(
        cluster.kubeconfig, url, "--from-backup", "secrets", "--include-resources", "secrets"
    )

    assert code == 0, err
    (warning,) = out["status"]["warnings"]
    assert warning["name"] == "db"
    assert "password: '*** (differs)'" in warning["diff"]
    for value in ("bmV3LXZhbHVl", "c2VjcmV0", "AAECAwQF"):
        assert value not in str(out) + err
