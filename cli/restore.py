"""`backupctl restore`: bring a backup back into a cluster; list and inspect restores.

The `restore` group and `restore create` (with its plan and summary) live here; the
commands that read recorded restores (get, describe, logs) are in cli/restore_view.py
and delete in cli/restore_delete.py, registered on this same `app` at the bottom.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import typer

from backupd.api.backup import ClusterResources
from backupd.api.common import Phase, parse_duration
from backupd.api.progress import Callbacks, Step
from backupd.api.restore import ExistingResourcePolicy, ItemResult, Outcome, Restore, RestoreSpec
from backupd.backup.selection import split_csv
from backupd.errors import BackupdError, UserInputError
from backupd.restore import DEFAULT_WORKERS, engine
from backupd.restore.report import describe_issues, outcome_word
from backupd.storage import records
from backupd.storage.catalog import default_restore_name as default_name
from backupd.storage.catalog import unused_name
from backupd.storage.layout import validate_name
from cli import backup_view, incluster, restore_delete, restore_view
from cli.common import (
    ContextOption,
    KubeconfigOption,
    LocationOption,
    kube_client,
    progress_bar,
)
from cli.completion import backup_names, namespaces
from cli.config import resolve_location
from cli.keysettings import AllowUnsignedOption
from cli.output import (
    OutputFormat,
    OutputOption,
    console,
    emit,
    info,
    print_table,
)
from cli.running import exit_interrupted, interruptible

app = typer.Typer(
    no_args_is_help=True, help="Restore backups into a cluster; list and inspect restores."
)

_DRY_RUN = "dry-run"  # the name a dry run without one runs under
# what --changes-only leaves out of a plan: the items it would not touch
_NO_CHANGE = frozenset({Outcome.unchanged, Outcome.skipped})


def _mappings(values: list[str] | None, what: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in split_csv(values):
        source, sep, target = pair.partition(":")
        if not sep or not source or not target:
            raise UserInputError(f"invalid {what} mapping {pair[:80]!r}: use SOURCE:TARGET")
        if mapping.get(source, target) != target:  # a dict would keep only the last
            raise UserInputError(
                f"{what} mapping names {source} twice ({source}:{mapping[source]} and {pair})"
            )
        mapping[source] = target
    return mapping


def _choice(value: str, enum: Any, flag: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise UserInputError(f"invalid {flag} {value[:40]!r}; use one of: {choices}") from None


# how a dry run's plan says each outcome: "Plan: 12 to create, 3 unchanged, 1 differs"
_PLAN_WORDS = {"created": "to create", "updated": "to update", "failed": "would fail"}


def _plan_counts(restore: Restore) -> str:
    c = restore.status.counts.model_dump()
    return (
        ", ".join(f"{c[k]} {_PLAN_WORDS.get(k, k)}" for k in restore_view.COUNT_COLUMNS if c[k])
        or "nothing"
    )


def _plan_table(restore: Restore, items: list[ItemResult], *, changes_only: bool = False) -> None:
    if changes_only:
        items = [i for i in items if i.outcome not in _NO_CHANGE]
    rows = [
        [outcome_word(i.outcome, True), i.group_resource, i.namespace or "", i.name, i.reason or ""]
        for i in items
    ]
    print_table(["ACTION", "RESOURCE", "NAMESPACE", "NAME", "DETAIL"], rows, title="Restore plan")
    for i in items:
        if i.diff:
            console.print(f"\n{outcome_word(i.outcome, True)} {i.where()}:", highlight=False)
            console.print(i.diff, highlight=False, markup=False)


def _summary(restore: Restore, *, diffs: bool = True) -> None:
    s = restore.status
    if restore.spec.dry_run:  # nothing ran: a plan, never "Completed"
        line = f"Plan: {_plan_counts(restore)} (dry run of backup {s.backup_name}: nothing changed)"
    else:
        line = (
            f"restore {restore.metadata.name} {s.phase.value} from backup {s.backup_name}: "
            f"{restore_view.counts(restore)}"
        )
    console.print(line, highlight=False)
    if s.workloads:
        ready = sum(w.ready for w in s.workloads)
        console.print(f"workloads: {ready} of {len(s.workloads)} ready", highlight=False)
    issues = describe_issues("Warnings", s.warnings, diffs=diffs)
    for line in issues + describe_issues("Errors", s.errors):
        console.print(line, highlight=False, markup=False)


class _Waiting:
    """Restore progress to the bar; while workloads are awaited, a line on stderr each
    time the number ready changes."""

    def __init__(self, update: Callable[[int, int], None]) -> None:
        self.update = update
        self.waiting = False
        self.last: tuple[int, int] | None = None

    def callbacks(self) -> Callbacks:
        return Callbacks(on_phase=self.phase, on_progress=self.progress)

    def phase(self, _phase: Phase, step: Step) -> None:
        self.waiting = step is Step.waiting

    def progress(self, done: int, total: int) -> None:
        if not self.waiting:
            self.update(done, total)
        elif (done, total) != self.last:
            self.last = (done, total)
            info(f"waiting for {total} workloads to be ready: {done} ready")


def _fail_unless_complete(restore: Restore) -> None:
    s = restore.status
    if s.phase is Phase.completed:
        return
    reason = f": {s.failure_reason}" if s.failure_reason else ""
    if restore.spec.dry_run:  # a plan, not a run: no phase, no name
        raise BackupdError(
            f"dry run of restore from backup {s.backup_name}: "
            f"the plan has {len(s.errors)} error(s){reason}"
        )
    why = f" with {len(s.errors)} error(s){reason}"
    raise BackupdError(
        f"restore {restore.metadata.name} {s.phase.value}{why}",
        hint=f"see: backupctl restore describe {restore.metadata.name}",
    )


def create(
    name: str = typer.Argument(None, help="restore name (default: <backup>-<YYYYMMDDHHMMSS>)"),
    from_backup: str = typer.Option(
        None,
        "--from-backup",
        metavar="NAME",
        help="the backup to restore",
        autocompletion=backup_names,
    ),
    from_schedule: str = typer.Option(
        None, "--from-schedule", help="restore the latest Completed backup of this schedule"
    ),
    include_namespaces: list[str] = typer.Option(
        None,
        "--include-namespaces",
        "-n",
        metavar="NAMESPACE[,NAMESPACE...]",
        help="namespaces to restore (comma list or repeated, globs; default: all in the backup)",
        autocompletion=namespaces,
    ),
    exclude_namespaces: list[str] = typer.Option(
        None, "--exclude-namespaces", help="namespaces to leave out (comma list, globs)"
    ),
    include_resources: list[str] = typer.Option(
        None, "--include-resources", help="types, e.g. deployments,configmaps (default all)"
    ),
    exclude_resources: list[str] = typer.Option(
        None,
        "--exclude-resources",
        metavar="RESOURCE[,RESOURCE...]",
        help="resource types to leave out, e.g. pods,events",
    ),
    include_items: list[str] = typer.Option(
        None, "--include-items", help="single items, e.g. deployment/web (with -n)"
    ),
    selector: str = typer.Option(
        None, "--selector", "-l", metavar="SELECTOR", help="label selector, e.g. app=web"
    ),
    include_cluster_resources: str = typer.Option(
        "auto",
        "--include-cluster-resources",
        metavar="auto|true|false",
        help="cluster-scoped objects: auto = all in the backup when every namespace is "
        "restored, else those the restored namespaces use; true = all; false = none",
    ),
    namespace_mappings: list[str] = typer.Option(
        None, "--namespace-mappings", help="SOURCE:TARGET,... e.g. shop:shop-restored"
    ),
    storage_class_mappings: list[str] = typer.Option(
        None, "--storage-class-mappings", help="SOURCE:TARGET,... e.g. gp2:standard"
    ),
    existing_resource_policy: str = typer.Option(
        "none",
        "--existing-resource-policy",
        metavar="none|update",
        help="none (leave and warn) or update (patch)",
    ),
    allow_system_namespaces: bool = typer.Option(
        False,
        "--allow-system-namespaces",
        help="allow --namespace-mappings into kube-system, kube-public or kube-node-lease",
    ),
    allow_privileged: bool = typer.Option(
        False,
        "--allow-privileged",
        help="create objects that grant cluster-wide power (cluster-admin bindings, admission "
        "webhooks, privileged or host Pods); refused without it",
    ),
    preserve_nodeports: bool = typer.Option(
        False, "--preserve-nodeports", help="keep Services' nodePorts (default: new ones)"
    ),
    restore_volumes: bool = typer.Option(
        True,
        "--restore-volumes/--no-restore-volumes",
        help="recreate claims that had a snapshot from it, with their data",
    ),
    volume_timeout: str = typer.Option(
        "10m", "--volume-timeout", help="how long to wait for those claims to be Bound"
    ),
    zone_mappings: list[str] = typer.Option(
        None, "--zone-mappings", help="EBS: SOURCE:TARGET availability zones, e.g. a:b"
    ),
    wait_ready: bool = typer.Option(
        False,
        "--wait-ready",
        help="wait until the restored workloads are ready; one that was ready in the backup "
        "and is not makes the restore PartiallyFailed, naming why",
    ),
    ready_timeout: str = typer.Option(
        None, "--ready-timeout", help="how long --wait-ready waits (default 10m; implies it)"
    ),
    allow_unsigned: bool = AllowUnsignedOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan; change nothing"),
    changes_only: bool = typer.Option(
        False,
        "--changes-only",
        help="with --dry-run: only the items that would change or fail (not the unchanged "
        "and skipped ones; the summary still counts them)",
    ),
    any_cluster: bool = typer.Option(
        False,
        "--any-cluster",
        help="with --from-schedule: choose among every cluster's backups, not the target's",
    ),
    workers: int = typer.Option(
        DEFAULT_WORKERS, "--workers", min=1, max=64, help="objects written in parallel"
    ),
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    location: str = LocationOption,
    in_cluster: bool = incluster.in_cluster_option("restore"),
    controller_namespace: str = incluster.ControllerNamespaceOption,
    wait: bool = incluster.WaitOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Restore a backup (or a schedule's latest good backup) into the target cluster
    (with --in-cluster: through the backupd controller, from its Backup's location)."""
    if (from_backup is None) == (from_schedule is None):
        raise UserInputError("give exactly one of --from-backup and --from-schedule")
    if changes_only and not dry_run:
        raise UserInputError("--changes-only shapes a plan: use it with --dry-run")
    spec = RestoreSpec(
        backup_name=from_backup,
        schedule_name=from_schedule,
        included_namespaces=split_csv(include_namespaces) or ["*"],
        excluded_namespaces=split_csv(exclude_namespaces),
        included_resources=split_csv(include_resources) or ["*"],
        excluded_resources=split_csv(exclude_resources),
        include_items=split_csv(include_items),
        label_selector=selector,
        include_cluster_resources=_choice(
            include_cluster_resources, ClusterResources, "--include-cluster-resources"
        ),
        namespace_mappings=_mappings(namespace_mappings, "namespace"),
        allow_system_namespaces=allow_system_namespaces,
        allow_privileged=allow_privileged,
        storage_class_mappings=_mappings(storage_class_mappings, "storage class"),
        existing_resource_policy=_choice(
            existing_resource_policy, ExistingResourcePolicy, "--existing-resource-policy"
        ),
        preserve_nodeports=preserve_nodeports,
        dry_run=dry_run,
        restore_volumes=restore_volumes,
        volume_timeout=volume_timeout,
        zone_mappings=_mappings(zone_mappings, "zone"),
        wait_ready=(ready_timeout or "10m") if wait_ready or ready_timeout else None,
    )
    parse_duration(volume_timeout)
    if name is not None:
        validate_name(name, "restore")
    if in_cluster:
        target = incluster.Target(kubeconfig, context, controller_namespace)
        local_only = {
            "--location": location is not None,
            "--allow-unsigned": allow_unsigned,
            "--any-cluster": any_cluster,
            "--workers": workers != DEFAULT_WORKERS,
        }
        ended = incluster.restore(
            name, spec, target, local_only=local_only, wait=wait, output=output
        )
        if ended is not None:
            ran = Restore.from_stored(ended.data)
            emit(ended.data, output, lambda: _summary(ran, diffs=not dry_run))
            _fail_unless_complete(ran)
        return
    loc = resolve_location(location, allow_unsigned=allow_unsigned)
    kube = kube_client(kubeconfig, context)
    try:
        if name is None and dry_run:
            name = _DRY_RUN  # stored nowhere and never shown: a dry run invents no name
        if name is None:
            backup = from_backup
            if backup is None:
                source = engine.source_cluster(kube, any_cluster=any_cluster)
                backup = engine.latest_of_schedule(loc, from_schedule, source).metadata.name
            name = unused_name(loc, default_name(backup, datetime.datetime.now(datetime.UTC)))
        with (
            progress_bar("restoring", enabled=output is OutputFormat.table) as update,
            interruptible(f"restore {name}") as stop,
        ):
            run = engine.run(
                name,
                spec,
                kube=kube,
                location=loc,
                report=_Waiting(update).callbacks(),
                cancel=stop,
                workers=workers,
                any_cluster=any_cluster,
            )
    except records.NoBackupChosen as e:
        raise backup_view.with_flags(e) from None
    restore = run.restore
    if stop.is_set():
        st = restore.status
        exit_interrupted(
            f"restore {name} recorded as {st.phase} ({st.failure_reason or 'finished'}): "
            f"{restore_view.counts(restore)}; rerun to finish: it creates only what is missing"
        )
    data: dict[str, Any] = restore.to_json_dict()
    if dry_run:
        if restore.metadata.name == _DRY_RUN:
            data["metadata"].pop("name", None)
        shown = [i for i in run.items if not changes_only or i.outcome not in _NO_CHANGE]
        data = {"restore": data, "items": [i.to_json_dict() for i in shown]}

    def table() -> None:
        if dry_run:
            _plan_table(restore, run.items, changes_only=changes_only)
        _summary(restore, diffs=not dry_run)

    emit(data, output, table)
    _fail_unless_complete(restore)


# In the order `backupctl restore --help` lists them; the read commands are in
# cli/restore_view.py, delete in cli/restore_delete.py.
app.command("create")(create)
app.command("get")(restore_view.get)
app.command("describe")(restore_view.describe)
app.command("delete")(restore_delete.delete)
app.command("logs")(restore_view.logs)
