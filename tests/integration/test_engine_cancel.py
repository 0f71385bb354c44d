"""Both engines against the real sandbox, driven through report and cancel as the CLI
and the controller drive them: phases in order, progress that never goes back, and a
cancel that stops at the next item without leaving anything marked Completed."""

from __future__ import annotations

import itertools
import threading

import pytest
from kubernetes import client

from backupd.api.backup import BackupSpec
from backupd.api.common import Phase
from backupd.api.progress import CANCELLED, Callbacks, Recorder, Step
from backupd.api.restore import Outcome, RestoreSpec
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.restore import engine as restore_engine
from backupd.restore.applier import NOT_ATTEMPTED
from backupd.storage import records
from backupd.storage.location import Location
from tests.fixtures.workloads import configmap

pytestmark = pytest.mark.integration
CONFIGMAPS = 30


@pytest.fixture()
def configmaps(kube: client.ApiClient, namespace: str) -> str:
    core = client.CoreV1Api(kube)
    for n in range(CONFIGMAPS):
        core.create_namespaced_config_map(namespace, configmap(f"cm-{n:02d}", n=str(n)))
    return namespace


def cancel_after(items: int, event: threading.Event, rec: Recorder) -> Callbacks:
    """Record progress, and set `event` once `items` are done (as a driver would)."""

    def progress(done: int, total: int) -> None:
        rec.progress(done, total)
        if done >= items:
            event.set()

    return Callbacks(on_phase=rec.phase, on_progress=progress, on_error=rec.error)


def assert_monotonic(progresses: list[tuple[int, int]]) -> None:
    assert progresses, "no progress reported"
    for (d0, t0), (d1, t1) in itertools.pairwise(progresses):
        assert d1 >= d0 and t1 >= t0, progresses
    assert all(d <= t for d, t in progresses), progresses


def test_backup_reports_its_phases_in_order_and_progress_never_goes_back(
    kc: KubeClient, loc: Location, configmaps: str
) -> None:
    rec = Recorder()
    b = backup_engine.run(
        "shape", BackupSpec(included_namespaces=[configmaps]), kube=kc, location=loc, report=rec
    )
    assert b.status.phase is Phase.completed
    assert [s for _, s in rec.phases] == [
        Step.validating, Step.discovering, Step.listing, Step.uploading, Step.committing, Step.done,
    ]  # fmt: skip
    assert rec.phases[-1] == (Phase.completed, Step.done)
    assert_monotonic(rec.progresses)
    assert rec.progresses[-1][0] == b.status.progress.items_backed_up


def test_a_backup_cancelled_mid_way_ends_failed_and_nothing_is_completed(
    kc: KubeClient, loc: Location, configmaps: str
) -> None:
    event, rec = threading.Event(), Recorder()
    b = backup_engine.run(
        "cut-short",
        BackupSpec(included_namespaces=[configmaps]),
        kube=kc,
        location=loc,
        report=cancel_after(5, event, rec),
        cancel=event,
    )
    assert b.status.phase is Phase.failed
    assert b.status.failure_reason == CANCELLED
    assert b.status.progress.items_backed_up == 5  # stopped at the next item
    assert rec.phases[-1] == (Phase.failed, Step.done)
    assert rec.errors == [f"backup failed: {CANCELLED}"]
    stored = records.load_backup(loc, "cut-short")
    assert stored.status.phase is Phase.failed
    with pytest.raises(records.NoBackupChosen):
        records.choose_latest(loc, records.Wanted())


def test_a_restore_cancelled_mid_way_stops_applying_and_reports_what_it_did_not_attempt(
    kc: KubeClient, kube: client.ApiClient, loc: Location, configmaps: str
) -> None:
    backup_engine.run("whole", BackupSpec(included_namespaces=[configmaps]), kube=kc, location=loc)
    target = f"{configmaps}-r"
    spec = RestoreSpec(
        backup_name="whole",
        included_namespaces=[configmaps],
        included_resources=["configmaps", "namespaces"],
        namespace_mappings={configmaps: target},
    )
    event, rec = threading.Event(), Recorder()
    try:
        run = restore_engine.run(
            "cut-short",
            spec,
            kube=kc,
            location=loc,
            report=cancel_after(5, event, rec),
            cancel=event,
            workers=1,
        )
        restored = client.CoreV1Api(kube).list_namespaced_config_map(target).items
    finally:
        client.CoreV1Api(kube).delete_namespace(target)
    status = run.restore.status
    assert status.phase is Phase.partially_failed
    assert status.failure_reason == CANCELLED
    left = [r for r in run.items if r.reason == NOT_ATTEMPTED]
    attempted = [r for r in run.items if r.reason != NOT_ATTEMPTED]
    assert len(attempted) == 5 and len(left) == len(run.items) - 5
    assert all(r.outcome is Outcome.skipped for r in left)
    # what was attempted is all that exists (kube-root-ca.crt is the namespace's own)
    made = {c.metadata.name for c in restored} - {"kube-root-ca.crt"}
    assert made == {r.name for r in attempted if r.resource == "configmaps"}
    assert f"cancelled: {len(left)} of {len(run.items)} item(s) not attempted" in [
        e.message for e in status.errors
    ]
    assert records.load_restore(loc, "cut-short").status.phase is Phase.partially_failed
    assert_monotonic(rec.progresses)
    assert rec.phases[-1] == (Phase.partially_failed, Step.done)


def test_restore_reports_its_phases_in_order(
    kc: KubeClient, kube: client.ApiClient, loc: Location, configmaps: str
) -> None:
    backup_engine.run("whole", BackupSpec(included_namespaces=[configmaps]), kube=kc, location=loc)
    rec = Recorder()
    spec = RestoreSpec(backup_name="whole", included_namespaces=[configmaps], dry_run=True)
    run = restore_engine.run("look", spec, kube=kc, location=loc, report=rec)
    assert run.restore.status.phase is Phase.completed
    assert [s for _, s in rec.phases] == [
        Step.validating, Step.reading, Step.planning, Step.applying, Step.done,
    ]  # fmt: skip
    assert_monotonic(rec.progresses)
    assert rec.progresses[-1] == (len(run.items), len(run.items))
