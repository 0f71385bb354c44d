"""Runs that overlap, and a controller killed in the middle of a backup."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.integration.controller_support import (
    NAMESPACE,
    Env,
    backups_of,
    ctl_fixture,
    events_with,
    in_progress,
    location,
    phases,
    schedule,
    wait_for,
)

pytestmark = pytest.mark.integration


class Blackhole:
    """A TCP server that accepts and never answers: storage that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


ctl = ctl_fixture()


@pytest.fixture()
def workload(kube: client.ApiClient, namespace: str) -> str:
    client.CoreV1Api(kube).create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    return namespace


@pytest.fixture()
def hanging(ctl: Env) -> Iterator[str]:
    """A StorageLocation URL whose S3 endpoint hangs for 40 s before failing."""
    hole = Blackhole()
    secret = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "testtest"}
    ctl.admin.post(
        f"/api/v1/namespaces/{NAMESPACE}/secrets",
        {
            "metadata": {"name": "hanging-s3"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in secret.items()},
        },
    )
    try:
        yield f"s3://bucket/prefix?endpoint=http://127.0.0.1:{hole.port}&region=us-east-1&read_timeout=40&connect_timeout=5&max_attempts=1"
    finally:
        hole.close()
        ctl.admin.delete(f"/api/v1/namespaces/{NAMESPACE}/secrets/hanging-s3")


def test_a_run_due_while_the_previous_one_runs_is_skipped_and_recorded(
    ctl: Env, workload: str, hanging: str
) -> None:
    location(ctl.res, "slow", hanging, credential={"name": "hanging-s3"})
    c = ctl.controller().start()
    try:
        schedule(ctl.res, "overlap", "*/2 * * * * *", [workload], runMissed="Skip")
        first = in_progress(ctl.res, "overlap")
        status = wait_for(
            "a skipped run",
            lambda: (
                (s := (ctl.res.get("schedules", "overlap") or {}).get("status", {})).get(
                    "lastSkipped"
                )
                and s
            ),
            30,
        )
        assert (
            status["lastSkipped"]["reason"]
            == f"backup {first['metadata']['name']} is still in progress"
        )
        assert status["skippedRuns"] >= 1
        assert [b["metadata"]["name"] for b in backups_of(ctl.res, "overlap")] == [
            first["metadata"]["name"]
        ]
        events_with(ctl.admin, "overlap", "RunSkipped")
        wait_for(  # the metric moves just after the Event
            "the skipped-runs metric",
            lambda: (c.metric("backupd_schedule_skipped_runs_total", schedule="overlap") or 0) >= 1,
            10,
        )
    finally:
        c.kill()


def test_a_backup_interrupted_by_a_killed_controller_ends_failed_and_the_next_run_succeeds(
    ctl: Env, workload: str, hanging: str
) -> None:
    location(ctl.res, "main", hanging, credential={"name": "hanging-s3"})
    first = ctl.controller("first").start()
    schedule(ctl.res, "nightly", "*/3 * * * * *", [workload])
    stuck = in_progress(ctl.res, "nightly")
    name = stuck["metadata"]["name"]
    first.kill()
    # the storage is repaired while the controller is down
    ctl.res.patch(
        "storagelocations",
        "main",
        {"spec": {"url": f"file://{ctl.tmp / 'store'}", "credential": None}},
    )
    second = ctl.controller("second").start()
    try:
        failed = wait_for(
            "the interrupted backup to be Failed",
            lambda: (b := ctl.res.get("backups", name)) and phases([b]) == ["Failed"] and b,
            30,
        )
        assert failed["status"]["failureReason"].startswith(
            "interrupted: the controller stopped while it ran"
        )
        events_with(ctl.admin, name, "Interrupted")
        later = wait_for(
            "a later run to complete",
            lambda: [
                b
                for b in backups_of(ctl.res, "nightly")
                if b["metadata"]["name"] > name and phases([b]) == ["Completed"]
            ],
            60,
        )
        assert later
        # never resumed: still Failed, never Completed
        assert phases([ctl.res.get("backups", name) or {}]) == ["Failed"]
    finally:
        second.stop()
