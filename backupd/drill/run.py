"""Run a drill: prove that a backup comes back, and say how fast and how fresh.

    resolve the backup (by name, or the latest Completed one of a schedule, any cluster)
    -> verify it (record and signature, index, archive, every object's sha256)
    -> start the target (an ephemeral cluster) or check it (never the source cluster)
    -> restore everything (backupd.restore.engine, stored as restores/<drill name>/)
       and wait for every workload to be ready (backupd.restore.readiness)
    -> account for every item; for what failed, find the missing piece it needs
    -> tear the ephemeral cluster down; store drills/<name>/ (backupd.drill.store)

A drill that fails (bad backup, failed item, workload not back) is a report with the
verdict Failed, not an exception; bad input, a refused target or a cluster that does
not start raise before any report exists. `on_entry` hears each timeline entry as it
happens (the CLI prints them); `report` hears the restore's progress and warnings.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backupd.api.backup import Backup
from backupd.api.common import ObjectMeta, Phase, now, parse_duration
from backupd.api.drill import (
    DrillProblem,
    DrillReport,
    DrillSpec,
    DrillTargetKind,
    TimelineEntry,
    WorkloadReadiness,
)
from backupd.api.progress import NEVER, SILENT, Cancel, Reporter, Step
from backupd.api.restore import ItemResult, RestoreSpec
from backupd.archive.format import IndexEntry
from backupd.archive.stored import load_index, opened
from backupd.backup.verify import verify_backup
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import ApiResource, discover
from backupd.drill import accounting, problems, store, targets, verdict
from backupd.errors import BackupdError, ClusterForbidden, ClusterNotFound, UserInputError
from backupd.kinds.references import Reference
from backupd.restore import engine
from backupd.storage.layout import DrillKeys, RestoreKeys, validate_name
from backupd.storage.location import Location


def _nothing(_entry: TimelineEntry) -> None:
    pass


@dataclass
class DrillRun:
    report: DrillReport
    stored: str | None = None  # where the report is stored (None: a ReadOnly location)


@dataclass
class _Timeline:
    on_entry: Callable[[TimelineEntry], None]
    entries: list[TimelineEntry] = field(default_factory=list)

    def add(self, step: str, message: str) -> None:
        entry = TimelineEntry.model_validate({"at": now(), "step": step, "message": message})
        self.entries.append(entry)
        self.on_entry(entry)


class _Marks:
    """A Reporter passing everything on, noting when the restore starts waiting for
    readiness (and telling `on_waiting` how many items it applied)."""

    def __init__(self, inner: Reporter, on_waiting: Callable[[int], None]) -> None:
        self.inner = inner
        self.on_waiting = on_waiting
        self.waiting_at: float | None = None
        self.applied = 0

    def phase(self, phase: Phase, step: Step) -> None:
        if step is Step.waiting and self.waiting_at is None:
            self.waiting_at = time.monotonic()
            self.on_waiting(self.applied)
        self.inner.phase(phase, step)

    def progress(self, done: int, total: int) -> None:
        if self.waiting_at is None:
            self.applied = done
        self.inner.progress(done, total)

    def warning(self, message: str) -> None:
        self.inner.warning(message)

    def error(self, message: str) -> None:
        self.inner.error(message)


@dataclass
class _Outcome:
    """What the drill found, filled in step by step."""

    verified: bool = False
    verify_message: str | None = None
    restored: bool = False
    took: verdict.Durations = field(default_factory=verdict.Durations)
    target_server: str = ""
    items: list[ItemResult] = field(default_factory=list)
    workloads: list[WorkloadReadiness] = field(default_factory=list)
    problems: list[DrillProblem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    entries: list[IndexEntry] = field(default_factory=list)


def choose_backup(location: Location, spec: DrillSpec) -> Backup:
    """The backup `spec` names, or its schedule's latest Completed backup (any cluster:
    a drill's target is never where the backups come from)."""
    if (spec.backup_name is None) == (spec.schedule_name is None):
        raise UserInputError("a drill needs exactly one of a backup or a schedule")
    chosen = RestoreSpec(backup_name=spec.backup_name, schedule_name=spec.schedule_name)
    return engine.resolve_backup(location, chosen, cluster=None)


def signature_note(location: Location, backup: Backup) -> str:
    """What loading the record checked of its signature (backupd.trust.signing)."""
    if backup.signature is None:
        return "not signed"
    if not location.keyring.trusted:
        return "signed, but the location trusts no key: signature not checked"
    return f"signature checked (key {backup.signature.key_id})"


def _verify(location: Location, backup: Backup, out: _Outcome) -> None:
    found = verify_backup(location, backup, read_data=True)
    signed = signature_note(location, backup)
    if found.ok:
        out.verified = True
        out.verify_message = (
            f"{signed}; {', '.join(found.checked)} checked: {found.items} items, each sha256"
        )
        return
    out.verify_message = "; ".join(found.problems)
    out.problems += [
        DrillProblem(message=f"backup {backup.metadata.name} did not verify: {p}")
        for p in found.problems
    ]


def _restore(
    name: str,
    spec: DrillSpec,
    backup: Backup,
    target: targets.Target,
    *,
    location: Location,
    report: Reporter,
    cancel: Cancel,
) -> engine.RestoreRun:
    restore_spec = RestoreSpec(
        backup_name=backup.metadata.name,
        allow_privileged=True,  # everything: a drill's target is a cluster to throw away
        restore_volumes=spec.target is DrillTargetKind.kubeconfig,  # kwok has no storage
        volume_timeout=spec.ready_timeout,
        wait_ready=spec.ready_timeout,
    )
    return engine.run(
        name,
        restore_spec,
        kube=target.kube,
        location=location,
        report=report,
        cancel=cancel,
        any_cluster=True,
    )


def _exists(kube: KubeClient, served: dict[tuple[str, str], ApiResource], ref: Reference) -> bool:
    """Whether the target has `ref` (a built-in PriorityClass, a CRD installed before).
    Forbidden to look: assume it does, rather than blame a piece that may be there."""
    api = served.get((ref.group, ref.kind))
    if api is None:
        return False
    try:
        kube.get(api.path(ref.namespace, ref.name))
    except ClusterNotFound:
        return False
    except ClusterForbidden:
        return True
    return True


def _findings(location: Location, backup: Backup, kube: KubeClient, out: _Outcome) -> None:
    """Every item accounted for; for each failure, the missing piece it needs."""
    index = load_index(location, backup)
    out.entries = index.entries
    missing = accounting.unaccounted(out.entries, out.items)
    if missing:
        shown = ", ".join(f"{e.group_resource}/{e.namespace or ''}/{e.name}" for e in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        out.problems.append(
            DrillProblem(
                message=f"{len(missing)} item(s) of the backup have no result: {shown}{more}"
            )
        )
    failed = problems.blocked(out.items, out.workloads)
    if not failed:
        return
    with opened(location, backup, index=index) as stored:  # one pass; keeps only these
        objects = stored.objects(problems.wanted(failed, out.entries))
    by_kind = discover(kube).by_kind()
    out.problems += problems.problems(
        failed,
        out.entries,
        objects,
        served={(r.group, r.resource) for r in by_kind.values()},
        exists=lambda ref: _exists(kube, by_kind, ref),
    )


def run(
    name: str,
    spec: DrillSpec,
    *,
    location: Location,
    kube: KubeClient | None = None,
    report: Reporter = SILENT,
    cancel: Cancel = NEVER,
    i_know: bool = False,
    on_entry: Callable[[TimelineEntry], None] = _nothing,
) -> DrillRun:
    """Drill `spec` into its target (see the module doc). `kube` is the target cluster
    for a Kubeconfig drill (default: spec.kubeconfig and spec.context); `i_know` allows
    the backup's own source cluster."""
    validate_name(name, "drill")
    parse_duration(spec.ready_timeout)
    if location.exists(DrillKeys(name).metadata):
        raise UserInputError(f"drill {name} already exists in {location.url}; choose another name")
    if location.exists(RestoreKeys(name).metadata):
        raise UserInputError(
            f"a restore named {name} exists in {location.url}; the drill's restore takes "
            "the drill's name: choose another one"
        )
    backup = choose_backup(location, spec)
    started = now()
    out = _Outcome(notices=targets.check(spec, backup, kube=kube, i_know=i_know))
    timeline = _Timeline(on_entry)
    timeline.add("start", f"drill {name} of backup {backup.metadata.name}")
    begun = time.monotonic()
    _verify(location, backup, out)
    out.took.verify = time.monotonic() - begun
    timeline.add("verify", out.verify_message or "")
    if out.verified:
        _drill(name, spec, backup, out, timeline, kube=kube, location=location,
               report=report, cancel=cancel)  # fmt: skip
    return _finish(name, spec, backup, started, out, timeline, location)


def _drill(
    name: str,
    spec: DrillSpec,
    backup: Backup,
    out: _Outcome,
    timeline: _Timeline,
    *,
    kube: KubeClient | None,
    location: Location,
    report: Reporter,
    cancel: Cancel,
) -> None:
    ephemeral = spec.target is DrillTargetKind.ephemeral

    def starting(directory: Path) -> None:
        timeline.add("cluster", f"starting an ephemeral cluster in {directory}")

    with targets.into(spec, backup, kube=kube, cancel=cancel, on_directory=starting) as target:
        out.took.cluster = target.started_seconds
        out.target_server = target.kube.host
        timeline.add("cluster", f"restoring into {target.cluster.describe()}")
        marks = _Marks(
            report,
            lambda n: timeline.add(
                "restore", f"{n} items restored; waiting up to {spec.ready_timeout} for readiness"
            ),
        )
        begun = time.monotonic()
        try:
            ran = _restore(
                name, spec, backup, target, location=location, report=marks, cancel=cancel
            )
        except BackupdError as e:
            out.took.restore = time.monotonic() - begun
            out.problems.append(DrillProblem(message=f"the restore failed: {e}"))
            timeline.add("restore", f"failed: {e}")
            return
        ended = time.monotonic()
        waited = marks.waiting_at or ended
        out.took.restore, out.took.readiness = waited - begun, ended - waited
        out.restored = True
        out.items, out.workloads = ran.items, list(ran.restore.status.workloads)
        out.notices += [  # the planner's (a namespace created empty ...); every drill shifts
            w.message
            for w in ran.restore.status.warnings
            if w.name is None and not w.message.startswith("lift-and-shift:")
        ]
        ready = sum(w.ready for w in out.workloads)
        timeline.add("readiness", f"{ready}/{len(out.workloads)} workloads ready")
        counts = accounting.restore_counts(out.items)
        timeline.add(
            "restore",
            f"restore {name} {ran.restore.status.phase.value}: "
            + ", ".join(f"{n} {o}" for o, n in counts.items()),
        )
        if cancel.is_set():
            out.problems.append(DrillProblem(message="the drill was cancelled"))
        _findings(location, backup, target.kube, out)
    if ephemeral:
        timeline.add("teardown", "ephemeral cluster stopped and removed")


def _finish(
    name: str,
    spec: DrillSpec,
    backup: Backup,
    started: datetime.datetime,
    out: _Outcome,
    timeline: _Timeline,
    location: Location,
) -> DrillRun:
    times = verdict.times(
        out.took,
        rpo=verdict.rpo_seconds(backup.status.completion_timestamp, started),
        restored=out.restored,
        workloads=out.workloads,
    )
    result = verdict.verdict(verified=out.verified, problems=out.problems)
    stored = None if location.read_only else f"{location.url.rstrip('/')}/{DrillKeys(name).prefix}"
    timeline.add("report", f"verdict {result.value}" + (f"; stored in {stored}" if stored else ""))
    timeline.add("end", f"drill {name} {result.value}")
    report = DrillReport(
        metadata=ObjectMeta(name=name, creation_timestamp=started),
        spec=spec,
        verdict=result,
        backup_name=backup.metadata.name,
        backup_completed=backup.status.completion_timestamp,
        started=started,
        finished=now(),
        target_server=out.target_server,
        verified=out.verified,
        verify_message=out.verify_message,
        times=times,
        problems=out.problems,
        namespaces=accounting.accounts(out.entries, out.items, out.workloads),
        workloads=out.workloads,
        timeline=timeline.entries,
        restore_counts=accounting.restore_counts(out.items),
        restore_name=name if out.restored else None,
        notices=out.notices,
    )
    if stored is not None:
        store.save(location, report)
    return DrillRun(report, stored)
