"""Schedules run by `backupd run` (the deploy/ ServiceAccount's rights) on a sandbox."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from backupd.api.backup import SCHEDULE_LABEL
from backupd.storage.catalog import committed_names
from backupd.storage.location import open_location
from tests.integration.controller_support import (
    Env,
    backups_of,
    ctl_fixture,
    events_with,
    location,
    phases,
    schedule,
    wait_for,
)

pytestmark = pytest.mark.integration


ctl = ctl_fixture()


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
        # no missed run at start-up: that one is named for when it runs, off the 5 s mark
        schedule(ctl.res, "every5s", "*/5 * * * * *", [workload], runMissed="Skip")
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
        events_with(ctl.admin, completed[0], "BackupStarted", "BackupCompleted")
        sched = ctl.res.get("schedules", "every5s")
        assert sched is not None and sched["status"]["phase"] == "Enabled"
        assert sched["status"]["lastBackup"].startswith("every5s-")
        wait_for(  # the metrics move just after the status and the Event
            "the backup metrics",
            lambda: (
                (c.metric("backupd_backup_total", result="Completed") or 0) >= 2
                and (
                    c.metric("backupd_backup_last_success_timestamp_seconds", schedule="every5s")
                    or 0
                )
                > 0
            ),
            10,
        )
        before = c.metric("backupd_backup_last_success_timestamp_seconds", schedule="every5s")
        assert before is not None
        wait_for(
            "the last-success gauge to move",
            lambda: (
                (c.metric("backupd_backup_last_success_timestamp_seconds", schedule="every5s") or 0)
                > before
            ),
            30,
        )
        began = time.monotonic()
        assert c.stop() == 0, c.logs()[-2000:]  # SIGTERM: a clean stop
        assert time.monotonic() - began < 15
        lease = ctl.admin.get(
            "/apis/coordination.k8s.io/v1/namespaces/backupd/leases/backupd-controller"
        )
        assert lease["spec"].get("holderIdentity", "") == ""  # released for a standby at once
    finally:
        c.stop()


def test_keep_last_three_leaves_exactly_the_newest_three(ctl: Env, workload: str) -> None:
    store = ctl.tmp / "store"
    location(ctl.res, "main", f"file://{store}")
    c = ctl.controller().start()
    seen: set[str] = set()

    def created_at_least(n: int) -> bool:
        seen.update(b["metadata"]["name"] for b in backups_of(ctl.res, "keep3"))
        return len(seen) >= n

    try:
        schedule(ctl.res, "keep3", "*/2 * * * * *", [workload], retention={"keepLast": 3})
        wait_for("six runs", lambda: created_at_least(6), 90)
        ctl.res.patch("schedules", "keep3", {"spec": {"paused": True}})
        created_at_least(0)
        newest = sorted(seen)[-3:]

        def settled() -> bool:
            created_at_least(0)
            newest[:] = sorted(seen)[-3:]
            left = [b["metadata"]["name"] for b in backups_of(ctl.res, "keep3")]
            stored = set(committed_names(open_location(f"file://{store}")))
            return (
                left == newest
                and stored == set(newest)
                and phases(backups_of(ctl.res, "keep3")) == ["Completed"] * 3
            )

        wait_for("exactly the newest three, in the cluster and the bucket", settled, 60)
        assert len(seen) >= 6
        wait_for(  # counted just after each deletion
            "the deletions metric",
            lambda: (
                (c.metric("backupd_gc_deletions_total", result="deleted") or 0) >= len(seen) - 3
            ),
            10,
        )
    finally:
        c.stop()


def test_a_paused_schedule_makes_no_backup_until_unpaused(ctl: Env, workload: str) -> None:
    location(ctl.res, "main", f"file://{ctl.tmp / 'store'}")
    c = ctl.controller().start()
    try:
        schedule(ctl.res, "held", "*/2 * * * * *", [workload], paused=True)
        wait_for(
            "phase Paused",
            lambda: (
                (ctl.res.get("schedules", "held") or {}).get("status", {}).get("phase") == "Paused"
            ),
            30,
        )
        time.sleep(8)  # four times the period
        assert backups_of(ctl.res, "held") == []
        ctl.res.patch("schedules", "held", {"spec": {"paused": False}})
        wait_for("a backup once unpaused", lambda: backups_of(ctl.res, "held"), 30)
        assert (ctl.res.get("schedules", "held") or {})["status"]["phase"] == "Enabled"
    finally:
        c.stop()


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"schedule": "61 * * * *"}, "invalid schedule '61 * * * *'"),
        ({"schedule": "0 2 * * *", "timeZone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_an_invalid_cron_or_time_zone_fails_validation_with_the_reason(
    ctl: Env, spec: dict[str, str], reason: str
) -> None:
    c = ctl.controller().start()
    try:
        ctl.res.create("schedules", {"metadata": {"name": "broken"}, "spec": spec})
        status = wait_for(
            "FailedValidation",
            lambda: (
                (s := (ctl.res.get("schedules", "broken") or {}).get("status", {})).get("phase")
                == "FailedValidation"
                and s
            ),
            30,
        )
        assert any(reason in e for e in status["validationErrors"]), status
        events_with(ctl.admin, "broken", "FailedValidation")
    finally:
        c.stop()
