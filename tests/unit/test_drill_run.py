"""The pure parts of `backupctl drill run`: accounting, missing pieces, verdict, RTO/RPO,
and refusing the backup's own source cluster."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backupd.api.backup import Backup, ClusterInfo
from backupd.api.common import ObjectMeta
from backupd.api.drill import DrillProblem, DrillSpec, DrillVerdict, WorkloadReadiness
from backupd.api.restore import ItemResult, Outcome
from backupd.drill import accounting, problems, verdict
from backupd.drill.ephemeral import PREFIX, DrillInterrupted, TeardownSignals, sweep_stale
from backupd.drill.targets import refuse_source
from backupd.errors import UserInputError
from backupd.kinds.references import Reference
from backupd.sandbox.cluster import STATE_FILE
from tests.unit.actions.builders import configmap, crd, custom, deployment, entry, namespace

JSON = dict[str, Any]


def result(o: JSON, outcome: Outcome, reason: str | None = None) -> ItemResult:
    e = entry(o)
    return ItemResult(
        group=e.group,
        version=e.version,
        kind=e.kind,
        resource=e.resource,
        namespace=e.namespace,
        name=e.name,
        outcome=outcome,
        reason=reason,
    )


def workload(name: str, ns: str = "shop", *, ready: bool, was_ready: bool = True) -> Any:
    return WorkloadReadiness(
        kind="Deployment",
        namespace=ns,
        name=name,
        ready=ready,
        was_ready=was_ready,
        reason=None if ready else "0/2 available: pods forbidden",
    )


def with_priority_class(o: JSON, name: str) -> JSON:
    o["spec"]["template"]["spec"]["priorityClassName"] = name
    return o


def find_problems(
    failed: list[problems.Blocked], *objs: JSON, exists: Callable[[Reference], bool]
) -> list[DrillProblem]:
    """problems.problems as a drill runs it: the whole index, and only the objects
    problems.wanted names read back."""
    entries = [entry(o) for o in objs]
    bodies = {e.key: o for e, o in zip(entries, objs, strict=True)}
    objects = [(e, bodies[e.key]) for e in problems.wanted(failed, entries)]
    return problems.problems(failed, entries, objects, served=SERVED, exists=exists)


# -- accounting -----------------------------------------------------------------------
def test_every_item_is_counted_in_its_namespace_with_what_became_of_it() -> None:
    web, api, cm = deployment("web"), deployment("api"), configmap("settings")
    other = configmap("x", ns="blog")
    ns = namespace("shop")
    entries = [entry(o) for o in (ns, web, api, cm, other)]
    items = [
        result(ns, Outcome.created),
        result(web, Outcome.created),
        result(api, Outcome.failed, "forbidden"),
        result(cm, Outcome.differs, "left alone"),
        result(other, Outcome.unchanged),
        result(namespace("blog"), Outcome.created),  # made up by the restore: not in the backup
    ]
    rows = accounting.accounts(entries, items, [workload("web", ready=True)])
    shown = {r.namespace: r.model_dump(exclude={"namespace"}) for r in rows}
    assert shown == {
        "": dict(items=1, created=1, unchanged=0, skipped=0, failed=0, workloads=0, workloads_ready=0),
        "blog": dict(items=1, created=0, unchanged=1, skipped=0, failed=0, workloads=0, workloads_ready=0),
        "shop": dict(items=3, created=1, unchanged=0, skipped=1, failed=1, workloads=1, workloads_ready=1),
    }  # fmt: skip
    assert accounting.restore_counts(items) == {
        "created": 3,
        "unchanged": 1,
        "differs": 1,
        "failed": 1,
    }


def test_an_item_of_the_backup_without_a_result_is_unaccounted_for() -> None:
    web, cm = deployment("web"), configmap("settings")
    entries = [entry(web), entry(cm)]
    assert accounting.unaccounted(entries, [result(web, Outcome.created)]) == [entry(cm)]
    assert (
        accounting.unaccounted(entries, [result(web, Outcome.created), result(cm, Outcome.skipped)])
        == []
    )


# -- missing pieces -------------------------------------------------------------------
SERVED = {("apps", "deployments"), ("", "configmaps")}


def never_there(_ref: Reference) -> bool:
    return False


def test_a_priority_class_missing_from_the_backup_is_named_with_the_deployment_it_blocks() -> None:
    web = with_priority_class(deployment("web"), "high")
    failed = problems.blocked([result(web, Outcome.created)], [workload("web", ready=False)])
    found = find_problems(failed, web, exists=never_there)
    assert found == [
        DrillProblem(
            message="PriorityClass high is not in the backup",
            blocks="deployment shop/web",
            kind="PriorityClass",
            name="high",
        )
    ]


def test_a_piece_the_target_already_has_is_not_blamed_and_the_failure_keeps_its_reason() -> None:
    web = with_priority_class(deployment("web"), "system-cluster-critical")
    failed = problems.blocked([], [workload("web", ready=False)])
    found = find_problems(failed, web, exists=lambda ref: ref.name == "system-cluster-critical")
    assert [p.message for p in found] == [
        "deployment shop/web not ready: 0/2 available: pods forbidden"
    ]


def test_custom_resources_whose_crd_was_excluded_name_the_crd_and_each_of_them() -> None:
    one, two = custom("Widget", "widget-1"), custom("Widget", "widget-2")
    refused = "the target cluster does not serve example.com/v1 Widget"
    items = [result(one, Outcome.failed, refused), result(two, Outcome.failed, refused)]
    found = find_problems(problems.blocked(items, []), one, two, exists=never_there)
    assert [(p.message, p.blocks) for p in found] == [
        (
            "CustomResourceDefinition widgets.example.com is not in the backup",
            "widget shop/widget-1, widget shop/widget-2",
        )
    ]


def test_a_crd_in_the_backup_is_no_missing_piece() -> None:
    widgets = crd("widgets", "example.com", "Widget")
    one = custom("Widget", "widget-1")
    items = [result(one, Outcome.failed, "its CRD is not ready: NamesAccepted False")]
    found = find_problems(problems.blocked(items, []), widgets, one, exists=never_there)
    assert [p.message for p in found] == [
        "widget shop/widget-1 not restored: its CRD is not ready: NamesAccepted False"
    ]


def test_only_the_objects_of_what_failed_are_read_back_from_the_backup() -> None:
    web, api = deployment("web"), deployment("api")
    settings = configmap("settings")
    failed = problems.blocked(
        [result(api, Outcome.failed, "forbidden")], [workload("web", ready=False)]
    )
    entries = [entry(o) for o in (web, api, settings, namespace("shop"))]
    assert problems.wanted(failed, entries) == [entry(web), entry(api)]


def test_a_workload_that_was_not_ready_in_the_backup_blocks_nothing() -> None:
    assert problems.blocked([], [workload("web", ready=False, was_ready=False)]) == []


# -- verdict and times ------------------------------------------------------------------
def test_a_drill_passes_only_verified_and_without_problems() -> None:
    assert verdict.verdict(verified=True, problems=[]) is DrillVerdict.passed
    assert verdict.verdict(verified=False, problems=[]) is DrillVerdict.failed
    problem = DrillProblem(message="PriorityClass high is not in the backup")
    assert verdict.verdict(verified=True, problems=[problem]) is DrillVerdict.failed


def test_rto_is_restore_plus_readiness_without_verification_or_cluster_start() -> None:
    took = verdict.Durations(verify=4.0, cluster=30.0, restore=2.5, readiness=7.0)
    times = verdict.times(took, rpo=3600.0, restored=True, workloads=[workload("web", ready=True)])
    assert times.rto_seconds == pytest.approx(9.5)
    assert (times.verify_seconds, times.cluster_seconds, times.rpo_seconds) == (4.0, 30.0, 3600.0)


def test_there_is_no_rto_when_the_app_did_not_come_back_or_was_never_restored() -> None:
    took = verdict.Durations(restore=2.0, readiness=600.0)
    stuck = [workload("web", ready=True), workload("api", ready=False)]
    assert verdict.times(took, rpo=0, restored=True, workloads=stuck).rto_seconds is None
    assert verdict.times(took, rpo=0, restored=False, workloads=[]).rto_seconds is None
    was_not_ready = [workload("api", ready=False, was_ready=False)]
    assert verdict.times(took, rpo=0, restored=True, workloads=was_not_ready).rto_seconds == 602.0


def test_rpo_is_the_backups_age_at_the_start_of_the_drill() -> None:
    completed = datetime.datetime(2026, 11, 1, 3, 0, tzinfo=datetime.UTC)
    started = completed + datetime.timedelta(hours=5, minutes=2)
    assert verdict.rpo_seconds(completed, started) == 5 * 3600 + 120
    assert verdict.rpo_seconds(None, started) == 0.0


# -- the target -----------------------------------------------------------------------
def backup_from(cluster: ClusterInfo) -> Backup:
    b = Backup(metadata=ObjectMeta(name="nightly-1"))
    b.status.cluster = cluster
    return b


def test_the_backups_source_cluster_is_refused_unless_the_user_knows() -> None:
    source = ClusterInfo(id="uid-a", server="https://127.0.0.1:6443")
    same_cluster_other_address = ClusterInfo(id="uid-a", server="https://10.0.0.1:6443")
    with pytest.raises(UserInputError, match="it is the source cluster of backup nightly-1"):
        refuse_source(backup_from(source), same_cluster_other_address, i_know=False)
    notices = refuse_source(backup_from(source), same_cluster_other_address, i_know=True)
    assert notices == ["drilling into the source cluster of backup nightly-1 (--i-know)"]
    assert refuse_source(backup_from(source), ClusterInfo(id="uid-b"), i_know=False) == []


def test_a_backup_that_records_no_source_cluster_is_drilled_with_a_notice() -> None:
    notices = refuse_source(backup_from(ClusterInfo()), ClusterInfo(id="uid-b"), i_know=False)
    assert notices == [
        "backup nightly-1 records no source cluster; cannot tell whether the target is it"
    ]


# -- signals during an ephemeral drill ----------------------------------------------------
def test_the_first_signal_cancels_and_interrupts_and_later_ones_cannot_break_the_teardown() -> None:
    cancel = threading.Event()
    signals = TeardownSignals(cancel)
    before = signal.getsignal(signal.SIGTERM)
    signals.install()
    try:
        with pytest.raises(DrillInterrupted, match="SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs in the main thread at once
        assert cancel.is_set()
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C during teardown: noted only
        time.sleep(0.1)
    finally:
        signals.restore()
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_ready_timeout_that_is_no_duration_is_refused_in_one_line() -> None:
    with pytest.raises(UserInputError, match="invalid duration 'soon'"):
        DrillSpec(backup_name="nightly-1", ready_timeout="soon")


def test_the_next_drill_removes_what_a_killed_one_left_and_nothing_still_running(
    tmp_path: Path,
) -> None:
    def left(name: str, pids: dict[str, int] | None) -> Path:
        directory = tmp_path / f"{PREFIX}{name}"
        (directory / "cluster").mkdir(parents=True)
        if pids is not None:
            (directory / "cluster" / STATE_FILE).write_text(json.dumps({"pids": pids}))
        return directory

    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    killed = left("killed", {"etcd": dead_pid.pid})
    running = left("running", {"etcd": os.getpid()})
    starting = left("starting", None)
    forgotten = left("forgotten", None)
    os.utime(forgotten, (time.time() - 7200, time.time() - 7200))
    other = tmp_path / "not-a-drill"
    other.mkdir()
    assert sweep_stale(tmp_path) == [forgotten, killed]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running.name, starting.name, other.name]
    )
