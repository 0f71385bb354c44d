"""Status patches from an engine's reports: phase at once, progress rate-limited."""

from __future__ import annotations

import json
import logging

import orjson
from kubernetes import client as k8s_client

from backupd.api.common import Phase
from backupd.api.progress import Step
from backupd.cluster.client import KubeClient
from backupd.cluster.fake import FakeTransport, Sent, json_reply
from backupd.cluster.transport import Response
from backupd.controller.main import JsonFormatter
from backupd.controller.reporting import StatusReporter
from backupd.controller.resources import Resources


def reporter(interval: float) -> tuple[StatusReporter, list[Sent]]:
    sent: list[Sent] = []

    def accept(s: Sent) -> Response:
        sent.append(s)
        return json_reply({})

    cfg = k8s_client.Configuration()
    cfg.host = "https://api.example:6443"
    kube = KubeClient(cfg, transport=FakeTransport(*[accept] * 100))
    return StatusReporter(
        Resources(kube, "backupd"), "backups", "b1", done_field="itemsBackedUp", interval=interval
    ), sent


def test_in_progress_is_patched_at_once_through_the_status_subresource() -> None:
    r, sent = reporter(60)
    r.phase(Phase.in_progress, Step.listing)
    assert [(s.method, s.target.split("?")[0]) for s in sent] == [
        ("PATCH", "/apis/backupd.io/v1alpha1/namespaces/backupd/backups/b1/status")
    ]
    assert sent[0].headers["Content-Type"] == "application/merge-patch+json"
    assert orjson.loads(sent[0].body or b"") == {"status": {"phase": "InProgress"}}


def test_progress_is_patched_at_most_once_per_interval() -> None:
    r, sent = reporter(60)
    for done in range(1, 500):
        r.progress(done, 1000)
    assert len(sent) == 1
    assert orjson.loads(sent[0].body or b"")["status"]["progress"] == {
        "totalItems": 1000,
        "itemsBackedUp": 1,
    }


def test_a_restore_waiting_for_workloads_does_not_patch_them_as_item_progress() -> None:
    r, sent = reporter(0)
    r.progress(40, 40)
    r.phase(Phase.in_progress, Step.waiting)
    r.progress(3, 12)  # 3 of 12 workloads ready: not items
    bodies = [orjson.loads(s.body or b"")["status"] for s in sent]
    assert [b["progress"]["itemsBackedUp"] for b in bodies if "progress" in b] == [40]


def test_progress_every_call_when_the_interval_is_zero_and_total_never_below_done() -> None:
    r, sent = reporter(0)
    r.progress(5, 3)
    assert orjson.loads(sent[0].body or b"")["status"]["progress"] == {
        "totalItems": 5,
        "itemsBackedUp": 5,
    }


def test_logs_are_one_json_object_per_line() -> None:
    record = logging.LogRecord(
        "backupd.controller", logging.WARNING, __file__, 1, "run %s skipped", ("x",), None
    )
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert (
        entry["level"] == "warning"
        and entry["message"] == "run x skipped"
        and entry["logger"] == "backupd.controller"
    )
    assert "\n" not in line
