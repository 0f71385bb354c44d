"""Backup and restore are driven the same way: run(name, spec, *, kube, location, report,
cancel); a cancelled restore that left items unattempted is never Completed."""

from __future__ import annotations

import inspect
import threading

import pytest

from backupd.api.common import Phase
from backupd.api.progress import (
    CANCELLED,
    NEVER,
    SILENT,
    Callbacks,
    Cancelled,
    Interrupt,
    Recorder,
    Step,
    check,
    reason_of,
)
from backupd.api.restore import ItemResult, Outcome, RestoreStatus
from backupd.backup import engine as backup_engine
from backupd.restore import engine as restore_engine
from backupd.restore.applier import NOT_ATTEMPTED

SHAPE = ["name", "spec", "kube", "location", "report", "cancel"]


def _leading(fn: object) -> list[tuple[str, inspect._ParameterKind]]:
    params = list(inspect.signature(fn).parameters.values())[: len(SHAPE)]  # type: ignore[arg-type]
    return [(p.name, p.kind) for p in params]


def item(name: str, outcome: Outcome, reason: str | None = None) -> ItemResult:
    return ItemResult(
        group="", version="v1", kind="ConfigMap", resource="configmaps",
        namespace="shop", name=name, outcome=outcome, reason=reason,
    )  # fmt: skip


def test_backup_and_restore_are_called_alike() -> None:
    expected = [
        ("name", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("spec", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    ] + [(n, inspect.Parameter.KEYWORD_ONLY) for n in SHAPE[2:]]
    assert _leading(backup_engine.run) == expected
    assert _leading(restore_engine.run) == expected


def test_a_threading_event_cancels_and_the_reason_is_cancelled() -> None:
    event = threading.Event()
    check(event)  # not set: nothing happens
    check(NEVER)
    event.set()
    with pytest.raises(Cancelled) as raised:
        check(event)
    assert str(raised.value) == CANCELLED


def test_an_interrupt_cancels_with_its_own_reason() -> None:
    stop = Interrupt("interrupted")
    check(stop)
    stop.set()
    with pytest.raises(Cancelled) as raised:
        check(stop)
    assert str(raised.value) == "interrupted"
    assert reason_of(stop) == "interrupted"
    assert reason_of(threading.Event()) == CANCELLED


def test_callbacks_pass_on_only_what_the_driver_asked_for() -> None:
    seen: list[tuple[int, int]] = []
    report = Callbacks(on_progress=lambda d, t: seen.append((d, t)))
    report.phase(Phase.in_progress, Step.listing)
    report.warning("ignored")
    report.progress(1, 3)
    assert seen == [(1, 3)]
    SILENT.progress(1, 1)  # a reporter that hears nothing accepts everything


def test_recorder_keeps_events_in_order() -> None:
    rec = Recorder()
    rec.phase(Phase.in_progress, Step.applying)
    rec.progress(1, 2)
    rec.progress(2, 2)
    rec.warning("w")
    rec.error("e")
    rec.phase(Phase.completed, Step.done)
    assert rec.phases == [(Phase.in_progress, Step.applying), (Phase.completed, Step.done)]
    assert rec.progresses == [(1, 2), (2, 2)]
    assert (rec.warnings, rec.errors) == (["w"], ["e"])


def test_a_cancelled_restore_with_items_applied_is_partially_failed() -> None:
    items = [item("a", Outcome.created), item("b", Outcome.skipped, NOT_ATTEMPTED)]
    status = RestoreStatus(phase=Phase.completed)
    restore_engine._cancelled(items, status, CANCELLED)
    assert status.phase is Phase.partially_failed
    assert status.failure_reason == CANCELLED
    assert [e.message for e in status.errors] == ["cancelled: 1 of 2 item(s) not attempted"]


def test_a_cancelled_restore_that_applied_nothing_is_failed() -> None:
    items = [item("a", Outcome.skipped, NOT_ATTEMPTED), item("b", Outcome.skipped, NOT_ATTEMPTED)]
    status = RestoreStatus(phase=Phase.completed)
    restore_engine._cancelled(items, status, CANCELLED)
    assert status.phase is Phase.failed
    assert status.failure_reason == CANCELLED


def test_a_cancel_after_the_last_item_leaves_the_restore_as_it_ended() -> None:
    items = [item("a", Outcome.created), item("b", Outcome.skipped, "excluded")]
    status = RestoreStatus(phase=Phase.completed)
    restore_engine._cancelled(items, status, CANCELLED)
    assert status.phase is Phase.completed
    assert status.failure_reason is None
    assert status.errors == []
