"""A Backup resource and then a Restore resource, both run by the controller; and the
run a schedule missed while the controller was down."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.integration.controller_support import (
    Env,
    allow_restoring,
    backups_of,
    ctl_fixture,
    events_with,
    location,
    phases,
    schedule,
    wait_final,
    wait_for,
)

pytestmark = pytest.mark.integration


ctl = ctl_fixture()


@pytest.fixture()
def restoring_allowed(ctl: Env) -> Iterator[None]:
    """Restoring through the controller is opt-in (see controller_support.allow_restoring)."""
    with allow_restoring(ctl.admin):
        yield


def test_a_backup_resource_then_a_restore_resource_bring_a_deleted_configmap_back(
    ctl: Env, kube: client.ApiClient, namespace: str, restoring_allowed: None
) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"colour": "blue"}}
    )
    location(ctl.res, "main", f"file://{ctl.tmp / 'store'}")
    c = ctl.controller().start()
    try:
        ctl.res.create(
            "backups", {"metadata": {"name": "before"}, "spec": {"includedNamespaces": [namespace]}}
        )
        done = wait_final(ctl.res, "backups", "before")
        assert phases([done]) == ["Completed"], done["status"]
        core.delete_namespaced_config_map("settings", namespace)
        ctl.res.create("restores", {"metadata": {"name": "undo"}, "spec": {"backupName": "before"}})
        restored = wait_final(ctl.res, "restores", "undo")
        assert phases([restored]) == ["Completed"], restored["status"]
        assert restored["status"]["counts"]["created"] >= 1
        assert core.read_namespaced_config_map("settings", namespace).data == {"colour": "blue"}
        events_with(ctl.admin, "undo", "RestoreStarted", "RestoreCompleted")
        wait_for(  # the counter moves just after the Event (it exists at 0 from the start)
            "the restore metric at 1",
            lambda: c.metric("backupd_restore_total", result="Completed") == 1,
            10,
        )
    finally:
        c.stop()


@pytest.mark.parametrize("run_missed", [True, False])
def test_runs_missed_while_the_controller_was_down_are_run_once(
    ctl: Env, namespace: str, run_missed: bool
) -> None:
    location(ctl.res, "main", f"file://{ctl.tmp / 'store'}")
    # hourly at minute 0 with seconds: many runs missed in the last ten hours, none due soon
    now = datetime.datetime.now(datetime.UTC)
    minute = (now.minute + 30) % 60
    schedule(ctl.res, "hourly", f"0 {minute} * * * *", [namespace])
    long_ago = (now - datetime.timedelta(hours=10)).isoformat().replace("+00:00", "Z")
    ctl.res.patch_status(
        "schedules", "hourly", {"lastBackupTime": long_ago, "lastBackup": "hourly-old"}
    )
    c = ctl.controller(extra=() if run_missed else ("--no-run-missed",)).start()
    try:
        wait_for(
            "the schedule enabled",
            lambda: (
                (s := ctl.res.get("schedules", "hourly"))
                and s.get("status", {}).get("phase") == "Enabled"
            ),
            30,
        )
        if run_missed:
            wait_for("the missed run", lambda: backups_of(ctl.res, "hourly"), 20)
        time.sleep(4)
        made = backups_of(ctl.res, "hourly")
        assert len(made) == (1 if run_missed else 0)
        if run_missed:
            messages = [
                e["message"]
                for e in events_with(ctl.admin, "hourly", "BackupCreated")
                if e["reason"] == "BackupCreated"
            ]
            assert len(messages) == 1 and "(the missed run of " in messages[0]
    finally:
        c.stop()
