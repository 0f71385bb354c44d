"""Monthly drills through the controller: a DrillSchedule run by `backupd run` (deploy/'s
rights) drills a backup into an ephemeral cluster, stores the report and exports the
result as metrics; a drill that cannot run is a failed drill, and says why."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from backupd.api.backup import BackupSpec
from backupd.backup import engine as backup_engine
from backupd.cluster.client import JSON, KubeClient
from backupd.drill import store
from backupd.sandbox.cluster import Sandbox
from backupd.storage.location import open_location
from tests.fixtures.clusters import api_client
from tests.fixtures.waiting import eventually
from tests.fixtures.workloads import configmap, deployment
from tests.integration.controller_support import (
    NAMESPACE,
    Env,
    ctl_fixture,
    events_for,
    events_with,
    location,
    wait_for,
)

pytestmark = pytest.mark.integration

ctl = ctl_fixture()


@pytest.fixture(autouse=True)
def no_drill_schedules_left(ctl: Env) -> Iterator[None]:
    """No DrillSchedule outlives its test (another test's controller would run it)."""
    for obj in ctl.res.list("drillschedules"):
        ctl.res.delete("drillschedules", obj["metadata"]["name"])
    yield
    for obj in ctl.res.list("drillschedules"):
        ctl.res.delete("drillschedules", obj["metadata"]["name"])


def drill_schedule(env: Env, name: str, cron: str, **spec: object) -> JSON:
    return env.res.create(
        "drillschedules", {"metadata": {"name": name}, "spec": {"schedule": cron, **spec}}
    )


def finished(env: Env, name: str, timeout: float) -> JSON:
    """The DrillSchedule once a drill of it has finished (status.lastVerdict set)."""

    def done() -> JSON | None:
        obj = env.res.get("drillschedules", name)
        status = (obj or {}).get("status") or {}
        return obj if status.get("lastVerdict") and not status.get("running") else None

    return wait_for(f"a drill of {name}", done, timeout, every=1.0)


@pytest.fixture()
def backed_up(cluster: Sandbox, tmp_path: Path) -> tuple[str, str]:
    """A running Deployment and its ConfigMap, backed up to a file:// location."""
    ns = f"drilled-{uuid.uuid4().hex[:5]}"
    with api_client(cluster.kubeconfig) as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
        client.CoreV1Api(api).create_namespaced_config_map(ns, configmap("settings", a="1"))
        apps = client.AppsV1Api(api)
        apps.create_namespaced_deployment(ns, deployment("web", replicas=1))

        def ready() -> bool:
            status = apps.read_namespaced_deployment("web", ns).status
            return (status.available_replicas or 0) >= 1

        eventually(ready, timeout=90, what=f"{ns}/web available")
    url = f"file://{tmp_path / 'store'}"
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        done = backup_engine.run(
            f"{ns}-b", BackupSpec(included_namespaces=[ns]), kube=kube, location=open_location(url)
        )
    assert done.status.phase.value == "Completed", done.status.errors
    return url, f"{ns}-b"


def test_an_every_minute_drill_schedule_drills_stores_the_report_and_exports_the_result(
    ctl: Env, backed_up: tuple[str, str]
) -> None:
    url, backup = backed_up
    location(ctl.res, "default", url)
    drill_schedule(ctl, "monthly", "* * * * *", backupName=backup, readyTimeout="3m")
    started = time.time()
    controller = ctl.controller().start()
    try:
        obj = finished(ctl, "monthly", timeout=240)
        status = obj["status"]
        assert status["phase"] == "Enabled"
        assert status["lastVerdict"] == "Passed", status.get("lastProblems")
        assert status["lastBackup"] == backup
        assert status["lastRtoSeconds"] > 0
        drill = status["lastDrill"]
        assert drill.startswith("monthly-")

        report = store.load(open_location(url), drill)
        assert report.passed and report.backup_name == backup
        assert any(w.kind == "Deployment" and w.name == "web" and w.ready for w in report.workloads)

        def exported() -> float | None:
            return controller.metric("backupd_drill_last_result", drill_schedule="monthly")

        assert wait_for("the drill result metric", exported, 10) == 1.0
        when = controller.metric("backupd_drill_last_timestamp_seconds", drill_schedule="monthly")
        assert when is not None and started <= when <= time.time() + 1
        rto = controller.metric("backupd_drill_rto_seconds", drill_schedule="monthly")
        assert rto == pytest.approx(status["lastRtoSeconds"])
        events_with(ctl.admin, "monthly", "DrillStarted", "DrillPassed")
    finally:
        controller.stop()


def test_a_drill_that_cannot_run_is_a_failed_drill_and_the_metrics_survive_a_restart(
    ctl: Env, tmp_path: Path
) -> None:
    location(ctl.res, "default", f"file://{tmp_path / 'empty'}")
    drill_schedule(ctl, "never-backed-up", "0 3 1 * *", scheduleName="nightly")
    controller = ctl.controller().start()
    try:
        wait_for(
            "the DrillSchedule enabled", lambda: _phase(ctl, "never-backed-up") == "Enabled", 30
        )
        assert (
            controller.metric("backupd_drill_last_result", drill_schedule="never-backed-up") is None
        )
        created = controller.metric(
            "backupd_drill_last_timestamp_seconds", drill_schedule="never-backed-up"
        )
        assert created is not None and created <= time.time()  # no drill yet: its creation
        ctl.res.patch(
            "drillschedules",
            "never-backed-up",
            {"metadata": {"annotations": {"backupd.io/run-now": "1"}}},
        )
        status = finished(ctl, "never-backed-up", timeout=60)["status"]
        assert status["lastVerdict"] == "Failed"
        assert status["lastRunNow"] == "1"
        assert "the drill did not run" in status["lastProblems"][0]
        assert "nightly" in status["lastProblems"][0]
        metric = "backupd_drill_last_result"
        assert wait_for(
            "the failed result",
            lambda: controller.metric(metric, drill_schedule="never-backed-up") == 0.0,
            10,
        )
        assert (
            controller.metric("backupd_drill_rto_seconds", drill_schedule="never-backed-up") is None
        )
        events_with(ctl.admin, "never-backed-up", "DrillFailed")
    finally:
        controller.stop()
    # as if a controller had stopped in the middle of a drill
    left = "never-backed-up-20261101030000"
    ctl.res.patch_status("drillschedules", "never-backed-up", {"running": left})
    again = ctl.controller("b").start()  # a new process: the result comes from status
    try:

        def restored() -> bool:
            return (
                again.metric("backupd_drill_last_result", drill_schedule="never-backed-up") == 0.0
            )

        assert wait_for("the result restored from status", restored, 30)
        status = finished(ctl, "never-backed-up", timeout=30)["status"]
        assert status["lastDrill"] == left and "interrupted" in status["lastProblems"][0]
        assert _runs(ctl, "never-backed-up") == 1  # the old run-now value is not run again
    finally:
        again.stop()


def _phase(env: Env, name: str) -> str | None:
    obj = env.res.get("drillschedules", name)
    return ((obj or {}).get("status") or {}).get("phase")


def _runs(env: Env, name: str) -> int:
    return sum(1 for e in events_for(env.admin, name) if e["reason"] == "DrillStarted")


def test_a_drill_into_the_cluster_of_a_kubeconfig_secret_restores_there(
    ctl: Env, backed_up: tuple[str, str], second_cluster: Sandbox
) -> None:
    url, backup = backed_up
    location(ctl.res, "default", url)
    secret = "drill-target"
    data = base64.b64encode(second_cluster.kubeconfig.read_bytes()).decode()
    secrets = f"/api/v1/namespaces/{NAMESPACE}/secrets"
    ctl.admin.post(secrets, {"metadata": {"name": secret}, "data": {"kubeconfig": data}})
    try:
        ctl.res.create(
            "drillschedules",
            {
                "metadata": {"name": "into-b", "annotations": {"backupd.io/run-now": "first"}},
                "spec": {
                    "schedule": "0 3 1 * *",
                    "backupName": backup,
                    "target": "Kubeconfig",
                    "kubeconfigSecret": {"name": secret},
                    "readyTimeout": "3m",
                },
            },
        )
        controller = ctl.controller().start()
        try:
            status = finished(ctl, "into-b", timeout=240)["status"]
        finally:
            controller.stop()
        assert status["lastVerdict"] == "Passed", status.get("lastProblems")
        report = store.load(open_location(url), status["lastDrill"])
        with KubeClient.from_kubeconfig(second_cluster.kubeconfig) as b:
            assert report.target_server == b.host
            ns = backup.removesuffix("-b")
            assert b.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web")["metadata"]["name"]
            b.delete(f"/api/v1/namespaces/{ns}")
    finally:
        ctl.admin.delete(f"{secrets}/{secret}")
