"""Schedules run by `backupd run` (the deploy/ ServiceAccount's rights) on a sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from backupd.api.backup import SCHEDULE_LABEL
from backupd.sandbox.cluster import Sandbox
from backupd.storage.catalog import committed_names
from backupd.storage.location import open_location
from tests.integration.controller_support import (
    Env,
    backups_of,
    env,
    events_for,
    location,
    phases,
    schedule,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture()
def ctl(cluster: Sandbox, tmp_path: Path) -> Iterator[Env]:
    yield from env(cluster, tmp_path)


@pytest.fixture()
def workload(kube: client.ApiClient, namespace: str) -> str:
    core = client.CoreV1Api(kube)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    return namespace


def test_a_schedule_makes_named_labelled_backups_on_time_and_metrics_move(
    ctl: Env, workload: str
) -> None:
    store = ctl.tmp / "store"
    location(ctl.res, "main", f"file://{store}")
    c = ctl.controller().start()
    try:
        wait_for("leadership", c.leading, 30)
        schedule(ctl.res, "every5s", "*/5 * * * * *", [workload])
        done = wait_for(
            "two completed backups",
            lambda: (
                [b for b in backups_of(ctl.res, "every5s") if phases([b]) == ["Completed"]][1:]
                and backups_of(ctl.res, "every5s")
            ),
            60,
        )
        for b in done:
            name = b["metadata"]["name"]
            stamp = name.removeprefix("every5s-")
            assert len(stamp) == 14 and stamp.isdigit()
            assert int(stamp[-2:]) % 5 == 0, f"{name} did not run on the 5-second mark"
            assert b["metadata"]["labels"][SCHEDULE_LABEL] == "every5s"
        completed = [b["metadata"]["name"] for b in done if phases([b]) == ["Completed"]]
        assert set(completed) <= set(committed_names(open_location(f"file://{store}")))
        first = next(b for b in done if b["metadata"]["name"] == completed[0])
        assert first["status"]["progress"]["itemsBackedUp"] >= 2
        assert first["spec"]["includedNamespaces"] == [workload]
        reasons = {e["reason"] for e in events_for(ctl.admin, completed[0])}
        assert {"BackupStarted", "BackupCompleted"} <= reasons
        sched = ctl.res.get("schedules", "every5s")
        assert sched is not None and sched["status"]["phase"] == "Enabled"
        assert sched["status"]["lastBackup"].startswith("every5s-")
        assert (c.metric("backupd_backup_total", result="Completed") or 0) >= 2
        gauge = c.metric("backupd_backup_last_success_timestamp_seconds", schedule="every5s")
        assert gauge is not None and gauge > 0
        before = gauge
        wait_for(
            "the last-success gauge to move",
            lambda: (
                (c.metric("backupd_backup_last_success_timestamp_seconds", schedule="every5s") or 0)
                > before
            ),
            30,
        )
    finally:
        c.stop()
