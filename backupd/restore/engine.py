"""Run a restore: read the backup from its location, plan, apply, record the result.

    resolve the backup (by name, or the latest Completed one of a schedule)
    -> download the archive, verifying its sha256 (and every item's)
    -> select, plan (pure) -> apply to the target, tier by tier
    -> with spec.wait_ready: wait for the restored workloads (restore.readiness); one
       that was ready in the backup and is not makes it PartiallyFailed
    -> store restores/<name>/results.json, restore.log.gz, restore.json (last)

Nothing is applied before the whole archive has been read and planned, so a corrupt
archive or bad input never leaves a half-restored cluster. A dry run and a ReadOnly
location store nothing.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from backupd.api.backup import SCHEDULE_LABEL, Backup, ClusterInfo  # noqa: F401 (re-exported)
from backupd.api.common import ObjectMeta, Phase, now, parse_duration
from backupd.api.progress import NEVER, SILENT, Cancel, Reporter, Step, reason_of
from backupd.api.restore import (
    ItemIssue,
    ItemResult,
    Outcome,
    Restore,
    RestoreSpec,
    RestoreStatus,
)
from backupd.archive.stored import opened as opened_backup
from backupd.cluster.client import KubeClient
from backupd.cluster.identity import current_cluster
from backupd.errors import (
    ArchiveError,
    UserInputError,
)
from backupd.kinds.spellings import TypeName
from backupd.restore import DEFAULT_WORKERS, guard, planner, readiness, volumes
from backupd.restore import velero as velero_conventions
from backupd.restore.applier import NOT_ATTEMPTED, Applier
from backupd.restore.report import log_line, secret_masking, summarize
from backupd.restore.targets import Targets
from backupd.storage import records
from backupd.storage.catalog import Skipped
from backupd.storage.layout import RestoreKeys, validate_name
from backupd.storage.location import Location
from backupd.storage.records import SourceCluster
from backupd.storage.streams import gunzip_bounded
from backupd.storage.velero import UNSIGNED_WARNING, is_velero
from backupd.storage.volumesnapshots import load as load_volume_snapshots

BACKUP_LABEL = "backupd.io/backup"
RESTORABLE = frozenset({Phase.completed, Phase.partially_failed})

log = logging.getLogger(__name__)


@dataclass
class RestoreRun:
    """A finished restore and every item's result."""

    restore: Restore
    items: list[ItemResult] = field(default_factory=list)
    # the restored workloads (readiness.wait_ready waits for them), whether or not
    # spec.wait_ready made this run wait
    workloads: list[readiness.Restored] = field(default_factory=list)


def source_cluster(kube: KubeClient, *, any_cluster: bool = False) -> SourceCluster | None:
    """Whose backups `--from-schedule` chooses from: the target cluster's, unless any."""
    return None if any_cluster else records.this_cluster(current_cluster(kube))


def latest_of_schedule(
    location: Location, schedule: str, cluster: SourceCluster | None = None
) -> Backup:
    """The newest Completed backup labelled backupd.io/schedule=<schedule> (of `cluster`;
    None: of any cluster). Damaged records are skipped."""
    wanted = records.Wanted(schedule=schedule, cluster=cluster)
    return records.choose_latest(location, wanted).backup


def resolve_backup(
    location: Location,
    spec: RestoreSpec,
    *,
    cluster: SourceCluster | None = None,
    skipped: list[Skipped] | None = None,
) -> Backup:
    """The backup `spec` names, or the latest Completed one of its schedule from
    `cluster` (None: any). Damaged records skipped on the way are added to `skipped`."""
    if spec.schedule_name is not None:
        chosen = records.choose_latest(
            location, records.Wanted(schedule=spec.schedule_name, cluster=cluster)
        )
        if skipped is not None:
            skipped.extend(chosen.skipped)
        return chosen.backup
    assert spec.backup_name is not None
    backup = records.load_backup(location, spec.backup_name)
    if backup.status.phase not in RESTORABLE:
        raise UserInputError(
            f"backup {backup.metadata.name} is {backup.status.phase.value}; "
            "only Completed or PartiallyFailed backups can be restored"
        )
    return backup


def cluster_notice(backup: Backup, target: ClusterInfo) -> list[str]:
    """A lift-and-shift is allowed, never a surprise: say when the backup came from
    another cluster (or records none)."""
    source = backup.status.cluster
    if source.same_cluster(target):
        return []
    name = backup.metadata.name
    if not (source.id or source.server):
        return [f"backup {name} records no source cluster; restoring into {target.describe()}"]
    return [
        f"lift-and-shift: backup {name} came from {source.describe()}; "
        f"restoring into {target.describe()}"
    ]


def read_plan(
    backup: Backup,
    spec: RestoreSpec,
    location: Location,
    *,
    served: Sequence[TypeName] = (),
    backed_up: readiness.BackedUp | None = None,
) -> planner.Plan:
    """Select from the verified stored index, read the archive once, plan. Raises before
    any change: the whole archive is checked (exactly the indexed members, each of its
    size and sha256, within the limits of backupd.archive.reader) before planning.

    `served` are the target's types: they add kubectl's short names to the filters
    and tell custom resources (ordered after their CRDs) from built-in types.
    `backed_up` keeps what readiness needs of the objects (their stored status).
    """
    with opened_backup(location, backup) as opened:
        selection = planner.select_entries(opened.entries, spec, served=served)
        # streamed: no list holds every backed-up object while the plan copies them
        objects = opened.reader.objects(selection.to_read())
        if backed_up is not None:
            objects = backed_up.keep(objects)
        plan = planner.plan(objects, selection, spec)
    if is_velero(backup):
        velero_conventions.apply(plan)  # Velero's own resources, with the reason
    return plan


def _store(location: Location, run: RestoreRun, lines: list[str]) -> None:
    keys = RestoreKeys(run.restore.metadata.name)
    items = [r.to_json_dict() for r in run.items]
    location.put_bytes(keys.results, orjson.dumps({"items": items}, option=orjson.OPT_INDENT_2))
    location.put_bytes(keys.log, gzip.compress("\n".join(lines).encode() + b"\n", mtime=0))
    location.put_bytes(
        keys.metadata, orjson.dumps(run.restore.to_json_dict(), option=orjson.OPT_INDENT_2)
    )


def _cancelled(items: list[ItemResult], status: RestoreStatus, reason: str) -> None:
    """A cancelled restore that left items unattempted is never Completed."""
    left = sum(1 for r in items if r.reason == NOT_ATTEMPTED)
    if not left:
        return  # cancelled after the last item: the restore finished
    applied = any(r.outcome is not Outcome.skipped for r in items)
    status.phase = Phase.partially_failed if applied else Phase.failed
    status.failure_reason = reason
    status.errors.append(
        ItemIssue(message=f"{reason}: {left} of {len(items)} item(s) not attempted")
    )


def run(
    name: str,
    spec: RestoreSpec,
    *,
    kube: KubeClient,
    location: Location,
    report: Reporter = SILENT,
    cancel: Cancel = NEVER,
    workers: int = DEFAULT_WORKERS,
    any_cluster: bool = False,
) -> RestoreRun:
    """Restore `spec` into the cluster `kube` talks to. `--from-schedule` chooses among
    that cluster's backups unless `any_cluster`; a backup from another cluster is
    restored (lift-and-shift) with a warning saying so.

    `report` hears phases, progress, warnings and errors; once `cancel` is set no
    further item is applied, the rest are reported not attempted, and the restore ends
    PartiallyFailed (or Failed if nothing was applied); see backupd.api.progress.
    """
    report.phase(Phase.new, Step.validating)
    validate_name(name, "restore")
    storing = not spec.dry_run and not location.read_only
    if storing and location.exists(RestoreKeys(name).metadata):
        raise UserInputError(f"restore {name} already exists in {location.url}")
    started = now()
    report.phase(Phase.in_progress, Step.reading)
    here = None if spec.schedule_name is None or any_cluster else current_cluster(kube)
    skipped: list[Skipped] = []
    source = None if here is None else records.this_cluster(here)
    backup = resolve_backup(location, spec, cluster=source, skipped=skipped)
    targets = Targets(kube)  # an unreachable cluster fails here, before any download
    notices = [str(s) for s in skipped]
    notices += cluster_notice(backup, here or current_cluster(kube))
    if is_velero(backup):
        notices.append(UNSIGNED_WARNING.format(name=backup.metadata.name))
    backed_up = readiness.BackedUp()
    plan = read_plan(backup, spec, location, served=targets.type_names(), backed_up=backed_up)
    guard.review(plan, spec, kube=kube, targets=targets)  # may refuse: nothing is created yet
    volume_tasks = volumes.prepare(plan, load_volume_snapshots(location, backup), spec, name)
    report.phase(Phase.in_progress, Step.planning)
    for warning in notices + plan.warnings:
        report.warning(warning)
    status = RestoreStatus(
        phase=Phase.in_progress,
        backup_name=backup.metadata.name,
        start_timestamp=started,
        target_server=kube.host,
    )
    status.progress.total_items = len(plan.items)
    restore = Restore(
        metadata=ObjectMeta(
            name=name, creation_timestamp=started, labels={BACKUP_LABEL: backup.metadata.name}
        ),
        spec=spec,
        status=status,
    )
    run = RestoreRun(restore)
    lines = [f"{started.isoformat()} info restore {name} from backup {backup.metadata.name}"]
    lines += [f"{started.isoformat()} warning {w}" for w in notices + plan.warnings]

    masked = secret_masking(plan.items)

    def on_result(r: ItemResult) -> None:
        r = masked(r)  # before it is kept, logged or printed
        run.items.append(r)
        lines.append(log_line(r, now(), spec.dry_run))
        if r.outcome is Outcome.failed:
            report.error(f"{r.where()}: {r.reason or 'failed'}")
        elif r.outcome is Outcome.differs:
            report.warning(f"{r.where()}: {r.reason or 'differs from the backup'}")
        report.progress(len(run.items), len(plan.items))

    report.phase(Phase.in_progress, Step.applying)
    report.progress(0, len(plan.items))
    Applier(kube, targets, spec, workers=workers, cancel=cancel).apply(plan, on_result)
    order = {
        (i.ref.group, i.ref.resource, i.ref.namespace, i.ref.name): n
        for n, i in enumerate(plan.items)
    }
    run.items.sort(key=lambda r: order.get((r.group, r.resource, r.namespace, r.name), len(order)))
    summarize(run.items, status)
    if volume_tasks and not spec.dry_run and not cancel.is_set():
        volumes.record(status, volumes.execute(kube, volume_tasks, run.items, spec, name))
        lines += [volumes.log_line(v, now()) for v in status.volumes]
    if not spec.dry_run:
        run.workloads = readiness.to_watch(run.items, backed_up)
    if spec.wait_ready and run.workloads and not spec.dry_run and not cancel.is_set():
        report.phase(Phase.in_progress, Step.waiting)
        timeout = parse_duration(spec.wait_ready).total_seconds()
        waited = readiness.wait_ready(
            kube, run.workloads, timeout=timeout, cancel=cancel, report=report
        )
        readiness.record(status, waited)
        lines += [readiness.log_line(w, now()) for w in waited]
    if cancel.is_set():
        _cancelled(run.items, status, reason_of(cancel))
    status.warnings[:0] = [ItemIssue(message=w) for w in notices + plan.warnings]
    if backup.status.phase is Phase.partially_failed:
        status.warnings.insert(
            0, ItemIssue(message=f"backup {backup.metadata.name} is PartiallyFailed")
        )
    status.completion_timestamp = now()
    lines.append(
        f"{status.completion_timestamp.isoformat()} info restore {name} {status.phase.value}"
    )
    if storing:
        report.phase(Phase.in_progress, Step.storing)
        _store(location, run, lines)
    elif not spec.dry_run:
        status.warnings.append(
            ItemIssue(message=f"results not stored: location {location.url} is ReadOnly")
        )
    report.phase(status.phase, Step.done)
    return run


# A restore's stored results and log: about 150 bytes per item, so room for millions.
MAX_RESULTS_BYTES = 1024 * 1024 * 1024
MAX_LOG_BYTES = 1024 * 1024 * 1024


def read_results(location: Location, name: str) -> list[ItemResult]:
    data = location.get_bytes(RestoreKeys(name).results, limit=MAX_RESULTS_BYTES)
    try:
        return [ItemResult.from_stored(i) for i in orjson.loads(data)["items"]]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError) as e:
        raise ArchiveError(f"the results of restore {name} are unreadable") from e


def read_log(location: Location, name: str) -> str:
    try:
        packed = location.get_bytes(RestoreKeys(name).log, limit=MAX_LOG_BYTES)
        return gunzip_bounded(packed, MAX_LOG_BYTES, f"the log of restore {name}").decode()
    except UnicodeDecodeError as e:
        raise ArchiveError(f"the log of restore {name} is unreadable") from e
