"""`restore create --wait-ready`: Completed means the app came back; what cannot come
back is named, with why (quota, a missing PriorityClass), and the restore is
PartiallyFailed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.waiting import eventually
from tests.fixtures.workloads import WIDGET_GROUP, ensure_widget_crd
from tests.integration.controller_support import (
    Env,
    allow_restoring,
    ctl_fixture,
    location,
    phases,
    wait_final,
)
from tests.integration.restore_support import (
    apply,
    backup,
    create_shop,
    delete_namespace,
    restore,
    retained_volume,
    wait_shop_running,
)

pytestmark = pytest.mark.integration


WIDGET = f"""
apiVersion: {WIDGET_GROUP}/v1
kind: Widget
metadata: {{name: blue}}
spec: {{colour: blue}}
"""


def web(name: str = "web", priority_class: str | None = None) -> str:
    """A one-replica Deployment (and its Service), optionally of a PriorityClass."""
    priority = f"priorityClassName: {priority_class}, " if priority_class else ""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{{priority}containers: [{{name: app, image: registry.invalid/{name}:1}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}
"""


def available(api: client.ApiClient, namespace: str, name: str) -> bool:
    d = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    return (d.status.available_replicas or 0) == d.spec.replicas


def job_complete(api: client.ApiClient, namespace: str, name: str) -> bool:
    job = client.BatchV1Api(api).read_namespaced_job(name, namespace)
    return any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])


def workloads(output: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """A restore's (or its status's) workloads by (kind, name)."""
    restore = output.get("restore", output)
    status = restore.get("status", restore)
    return {(w["kind"], w["name"]): w for w in status["workloads"]}


def zero_pod_quota(api: client.ApiClient, namespace: str) -> None:
    """A ResourceQuota allowing no pods at all, once the quota controller has counted."""
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_resource_quota(
        namespace, {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    )
    eventually(
        lambda: core.read_namespaced_resource_quota("no-pods", namespace).status.hard,
        what="the quota counted",
    )


def test_a_restored_app_is_completed_once_every_workload_is_ready(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    create_shop(cluster.kubeconfig, namespace)
    apply(cluster.kubeconfig, retained_volume(f"{namespace}-data"[:63], namespace, "manual"))
    ensure_widget_crd(kube)
    apply(cluster.kubeconfig, WIDGET, namespace)
    wait_shop_running(kube, namespace)
    eventually(lambda: job_complete(kube, namespace, "migrate"), what="the migrate job")
    eventually(lambda: available(kube, namespace, "web"), what="web available")
    backup(cluster.kubeconfig, url, "shop", namespace)
    delete_namespace(kube, namespace)

    code, out, err = restore(
        cluster.kubeconfig, url, "back", "--from-backup", "shop", "--wait-ready"
    )

    assert code == 0, err
    assert out["spec"]["waitReady"] == "10m"  # the default; it ends as soon as all are ready
    assert out["status"]["phase"] == "Completed"
    found = workloads(out)
    for key in [
        ("Deployment", "web"),
        ("StatefulSet", "db"),
        ("Job", "migrate"),
        ("Service", "web"),
        ("Service", "db-headless"),
        ("PersistentVolumeClaim", "data"),
        ("Widget", "blue"),  # a custom resource: accepted (it reads back)
    ]:
        assert found[key]["ready"], found[key]
        assert found[key]["secondsToReady"] is not None
    # never Bound in the backup (no volume for it): recorded, and no failure
    uploads = found[("PersistentVolumeClaim", "uploads")]
    assert (uploads["ready"], uploads["wasReady"]) == (False, False)
    assert "Pending" in uploads["reason"]
    assert f"waiting for {len(found)} workloads to be ready" in err

    shown = backupctl("restore", "describe", "back", "--location", url)
    assert shown.returncode == 0, shown.stderr
    assert "KIND" in shown.stdout and "READY" in shown.stdout and "REASON" in shown.stdout
    assert "Deployment" in shown.stdout and "migrate" in shown.stdout


def test_a_deployment_whose_pods_are_refused_by_a_quota_is_partially_failed_naming_it(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    apply(cluster.kubeconfig, web(), namespace)
    eventually(lambda: available(kube, namespace, "web"), what="web available")
    backup(cluster.kubeconfig, url, "app", namespace)
    target = f"{namespace[:55]}-quota"
    zero_pod_quota(kube, target)
    try:
        code, out, err = restore(
            cluster.kubeconfig, url, "app-q", "--from-backup", "app", "--wait-ready",
            "--ready-timeout", "8s", "--namespace-mappings", f"{namespace}:{target}",
        )  # fmt: skip
        assert code != 0
        assert "waiting for 2 workloads to be ready: 0 ready" in err
        status = out["status"]
        assert status["phase"] == "PartiallyFailed"
        deployment = workloads(out)[("Deployment", "web")]
        assert deployment["ready"] is False and deployment["wasReady"] is True, deployment
        assert "exceeded quota" in deployment["reason"] or "quota" in deployment["reason"]
        assert any("FailedCreate" in e and "quota" in e for e in deployment["events"])
        errors = {e["resource"]: e["message"] for e in status["errors"] if e["name"] == "web"}
        assert "quota" in errors["deployment"], errors
        # the Service's pods never come: it says where they come from
        assert "Deployment web" in workloads(out)[("Service", "web")]["reason"]

        shown = backupctl("restore", "describe", "app-q", "--location", url)
        assert "PartiallyFailed" in shown.stdout
        row = next(line for line in shown.stdout.splitlines() if line.startswith("Deployment"))
        assert "no" in row and "quota" in row
    finally:
        client.CoreV1Api(kube).delete_namespace(target)


def test_a_ready_timeout_that_is_no_duration_is_one_error_line(tmp_path: Path) -> None:
    res = backupctl(
        "restore", "create", "--from-backup", "x", "--ready-timeout", "soon",
        "--location", (tmp_path / "location").as_uri(),
    )  # fmt: skip
    assert error_line(res) == "error: invalid duration 'soon': use e.g. 720h, 30d, 1h30m"


def test_a_missing_priority_class_is_named_when_the_pods_cannot_start(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    scheduling = client.SchedulingV1Api(kube)
    priority = f"{namespace}-high"[:63]
    scheduling.create_priority_class({"metadata": {"name": priority}, "value": 1000})
    apply(cluster.kubeconfig, web("api", priority), namespace)
    eventually(lambda: available(kube, namespace, "api"), what="api available")
    backup(cluster.kubeconfig, url, "app", namespace)
    scheduling.delete_priority_class(priority)
    delete_namespace(kube, namespace)

    res = backupctl(
        "restore", "create", "app-p", "--from-backup", "app", "--wait-ready",
        "--ready-timeout", "8s", "--exclude-resources", "priorityclasses",
        "--location", url, "--kubeconfig", str(cluster.kubeconfig),
    )  # fmt: skip

    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "PartiallyFailed" in res.stderr
    assert f"no PriorityClass with name {priority}" in res.stdout
    stored = backupctl("restore", "get", "app-p", "--location", url, "-o", "json")
    status = json.loads(stored.stdout)["status"]
    api = next(w for w in status["workloads"] if w["kind"] == "Deployment")
    assert api["ready"] is False
    assert priority in api["reason"]


ctl = ctl_fixture()


def test_a_restore_resource_with_wait_ready_records_its_workloads_through_the_controller(
    ctl: Env, kube: client.ApiClient, namespace: str
) -> None:
    apply(ctl.box.kubeconfig, web(), namespace)
    eventually(lambda: available(kube, namespace, "web"), what="web available")
    target = f"{namespace[:55]}-quota"
    zero_pod_quota(kube, target)
    location(ctl.res, "main", f"file://{ctl.tmp / 'store'}")
    with allow_restoring(ctl.admin):
        c = ctl.controller().start()
        try:
            ctl.res.create(
                "backups",
                {"metadata": {"name": "app"}, "spec": {"includedNamespaces": [namespace]}},
            )
            assert phases([wait_final(ctl.res, "backups", "app")]) == ["Completed"]
            spec = {
                "backupName": "app",
                "namespaceMappings": {namespace: target},
                "waitReady": "8s",
            }
            ctl.res.create("restores", {"metadata": {"name": "app-q"}, "spec": spec})
            status = wait_final(ctl.res, "restores", "app-q")["status"]
        finally:
            c.stop()
            client.CoreV1Api(kube).delete_namespace(target)
    assert status["phase"] == "PartiallyFailed", status
    deployment = workloads(status)[("Deployment", "web")]
    assert deployment["ready"] is False and "quota" in deployment["reason"]
    assert any(
        e.get("resource") == "deployment" and "quota" in e["message"] for e in status["errors"]
    )
