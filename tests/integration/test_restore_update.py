"""Restoring over objects that exist: the whole object is compared with the backup's
version as the API server would store it, and `--existing-resource-policy update`
makes it exactly the backup's again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from tests.integration.restore_support import WEB_SERVICES, apply, backup, counts, restore

pytestmark = pytest.mark.integration

APP = (
    """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {app: web, team: payments}}
data: {mode: production}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bot}
"""
    + WEB_SERVICES
    + """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: bot
      containers: [{name: app, image: registry.invalid/web:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker}
spec:
  replicas: 1
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec: {containers: [{name: work, image: registry.invalid/worker:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: debug, labels: {app: debug}}
spec: {containers: [{name: sh, image: registry.invalid/sh:1}]}
"""
)


def restore_json(cluster: Sandbox, url: str, *flags: str) -> dict[str, Any]:
    code, out, err = restore(cluster.kubeconfig, url, "--from-backup", "app", *flags)
    assert code == 0, err
    return out


def addresses(core: client.CoreV1Api, namespace: str) -> tuple[str, int]:
    web = core.read_namespaced_service("web", namespace)
    node_port = core.read_namespaced_service("web-nodeport", namespace)
    return web.spec.cluster_ip, node_port.spec.ports[0].node_port


def test_untouched_objects_are_unchanged_with_either_policy(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    core = client.CoreV1Api(kube)
    apply(cluster.kubeconfig, APP, namespace)
    backup(cluster.kubeconfig, url, "app", namespace)
    before = addresses(core, namespace)

    for flags in ((), ("--existing-resource-policy", "update"), ("--dry-run",)):
        out = restore_json(cluster, url, *flags)
        assert counts(out).keys() == {"unchanged", "skipped"}, (flags, out)
        # the Namespace, 2 ServiceAccounts, 2 Services, 2 Deployments, a ConfigMap, a Pod
        assert counts(out)["unchanged"] == 9, flags
        items = {i["name"]: i for i in out.get("items", [])}
        if items:  # a dry run lists them: a Pod's spec cannot be replaced, so it is
            # compared on the backup's fields, and says so
            assert "compared on the backup's fields only" in items["debug"]["reason"]

    assert addresses(core, namespace) == before


def test_changes_after_the_backup_differ_and_update_undoes_them(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    core, apps = client.CoreV1Api(kube), client.AppsV1Api(kube)
    apply(cluster.kubeconfig, APP, namespace)
    backup(cluster.kubeconfig, url, "app", namespace)
    before = addresses(core, namespace)
    env = [{"name": "DEBUG", "value": "1"}]
    apps.patch_namespaced_deployment(
        "web",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}},
    )
    core.patch_namespaced_config_map(
        "settings", namespace, {"metadata": {"labels": {"team": None}}}
    )
    apps.patch_namespaced_deployment_scale("worker", namespace, {"spec": {"replicas": 3}})

    left_alone = restore_json(cluster, url)

    assert counts(left_alone) == {
        "unchanged": 6,
        "differs": 3,
        "skipped": counts(left_alone)["skipped"],
    }
    diffs = {w["name"]: w["diff"] for w in left_alone["status"]["warnings"]}
    assert set(diffs) == {"web", "settings", "worker"}
    assert "-      - env:\n-        - name: DEBUG\n-          value: '1'" in diffs["web"]
    assert "+    team: payments" in diffs["settings"]
    assert "-  replicas: 3\n+  replicas: 1" in diffs["worker"]
    web = apps.read_namespaced_deployment("web", namespace)
    assert web.spec.template.spec.containers[0].env[0].name == "DEBUG"
    assert "team" not in core.read_namespaced_config_map("settings", namespace).metadata.labels
    assert apps.read_namespaced_deployment("worker", namespace).spec.replicas == 3

    updated = restore_json(cluster, url, "--existing-resource-policy", "update")

    assert counts(updated)["updated"] == 3 and counts(updated)["unchanged"] == 6
    assert (
        apps.read_namespaced_deployment("web", namespace).spec.template.spec.containers[0].env
        is None
    )
    labels = core.read_namespaced_config_map("settings", namespace).metadata.labels
    assert labels == {"app": "web", "team": "payments"}
    assert apps.read_namespaced_deployment("worker", namespace).spec.replicas == 1
    assert addresses(core, namespace) == before

    again = restore_json(cluster, url, "--dry-run")
    assert counts(again).keys() == {"unchanged", "skipped"}
