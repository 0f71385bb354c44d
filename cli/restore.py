"""`backupctl restore`: bring a backup back into a cluster; list and inspect restores."""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

import typer

from backupd.api.backup import ClusterResources
from backupd.api.common import Phase, parse_duration
from backupd.api.progress import Callbacks
from backupd.api.restore import ExistingResourcePolicy, ItemResult, Outcome, Restore, RestoreSpec
from backupd.errors import BackupdError, UserInputError
from backupd.restore import engine
from backupd.restore.applier import DEFAULT_WORKERS
from backupd.restore.report import describe_issues, outcome_word
from backupd.storage import records
from backupd.storage.catalog import default_restore_name as default_name
from backupd.storage.catalog import unused_name
from backupd.storage.layout import validate_name
from backupd.storage.location import AccessMode
from cli import backup_view, incluster
from cli.common import ContextOption, KubeconfigOption, LocationOption, kube_client, progress_bar
from cli.config import resolve_location
from cli.keysettings import AllowUnsignedOption
from cli.output import OutputFormat, OutputOption, console, emit, info, print_table, warn

app = typer.Typer(
    no_args_is_help=True, help="Restore backups into a cluster; list and inspect restores."
)

_COUNT_COLUMNS = ["created", "updated", "unchanged", "differs", "skipped", "failed"]


def _csv(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _mappings(values: list[str] | None, what: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in _csv(values):
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


def _counts(restore: Restore) -> str:
    c = restore.status.counts.model_dump()
    dry = restore.spec.dry_run
    return (
        ", ".join(f"{c[k]} {outcome_word(Outcome(k), dry)}" for k in _COUNT_COLUMNS if c[k])
        or "nothing to do"
    )


def _plan_table(restore: Restore, items: list[ItemResult]) -> None:
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
    console.print(
        f"restore {restore.metadata.name} {s.phase.value} from backup {s.backup_name}: "
        f"{_counts(restore)}",
        highlight=False,
    )
    issues = describe_issues("Warnings", s.warnings, diffs=diffs)
    for line in issues + describe_issues("Errors", s.errors):
        console.print(line, highlight=False, markup=False)


def _fail_unless_complete(restore: Restore) -> None:
    s = restore.status
    if s.phase is Phase.completed:
        return
    what = "dry run of restore" if restore.spec.dry_run else "restore"
    hint = (
        None if restore.spec.dry_run else f"see: backupctl restore describe {restore.metadata.name}"
    )
    why = f" with {len(s.errors)} error(s)" + (f": {s.failure_reason}" if s.failure_reason else "")
    raise BackupdError(f"{what} {restore.metadata.name} {s.phase.value}{why}", hint=hint)


@app.command()
def create(
    name: str = typer.Argument(None, help="restore name (default: <backup>-<YYYYMMDDHHMMSS>)"),
    from_backup: str = typer.Option(None, "--from-backup", help="the backup to restore"),
    from_schedule: str = typer.Option(
        None, "--from-schedule", help="restore the latest Completed backup of this schedule"
    ),
    include_namespaces: list[str] = typer.Option(
        None, "--include-namespaces", "-n", help="namespaces (comma-separated, globs; default all)"
    ),
    exclude_namespaces: list[str] = typer.Option(None, "--exclude-namespaces"),
    include_resources: list[str] = typer.Option(
        None, "--include-resources", help="types, e.g. deployments,configmaps (default all)"
    ),
    exclude_resources: list[str] = typer.Option(None, "--exclude-resources"),
    include_items: list[str] = typer.Option(
        None, "--include-items", help="single items, e.g. deployment/web (with -n)"
    ),
    selector: str = typer.Option(
        None, "--selector", "-l", metavar="SELECTOR", help="label selector, e.g. app=web"
    ),
    include_cluster_resources: str = typer.Option(
        "auto", "--include-cluster-resources", help="auto, true or false"
    ),
    namespace_mappings: list[str] = typer.Option(
        None, "--namespace-mappings", help="SOURCE:TARGET,... e.g. shop:shop-restored"
    ),
    storage_class_mappings: list[str] = typer.Option(
        None, "--storage-class-mappings", help="SOURCE:TARGET,... e.g. gp2:standard"
    ),
    existing_resource_policy: str = typer.Option(
        "none", "--existing-resource-policy", help="none (leave and warn) or update (patch)"
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
    preserve_nodeports: bool = typer.Option(False, "--preserve-nodeports"),
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
    allow_unsigned: bool = AllowUnsignedOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan; change nothing"),
    any_cluster: bool = typer.Option(
        False,
        "--any-cluster",
        help="with --from-schedule: choose among every cluster's backups, not the target's",
    ),
    workers: int = typer.Option(DEFAULT_WORKERS, "--workers", min=1, max=64),
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
    spec = RestoreSpec(
        backup_name=from_backup,
        schedule_name=from_schedule,
        included_namespaces=_csv(include_namespaces) or ["*"],
        excluded_namespaces=_csv(exclude_namespaces),
        included_resources=_csv(include_resources) or ["*"],
        excluded_resources=_csv(exclude_resources),
        include_items=_csv(include_items),
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
        if name is None:
            backup = from_backup
            if backup is None:
                source = engine.source_cluster(kube, any_cluster=any_cluster)
                backup = engine.latest_of_schedule(loc, from_schedule, source).metadata.name
            name = unused_name(loc, default_name(backup, datetime.datetime.now(datetime.UTC)))
        with progress_bar("restoring", enabled=output is OutputFormat.table) as update:
            run = engine.run(
                name,
                spec,
                kube=kube,
                location=loc,
                report=Callbacks(on_progress=update),
                workers=workers,
                any_cluster=any_cluster,
            )
    except records.NoBackupChosen as e:
        raise backup_view.with_flags(e) from None
    restore = run.restore
    data: dict[str, Any] = restore.to_json_dict()
    if dry_run:
        data = {"restore": data, "items": [i.to_json_dict() for i in run.items]}

    def table() -> None:
        if dry_run:
            _plan_table(restore, run.items)
        _summary(restore, diffs=not dry_run)

    emit(data, output, table)
    _fail_unless_complete(restore)


def _row(r: Restore) -> list[Any]:
    s = r.status
    created = r.metadata.creation_timestamp
    return [
        r.metadata.name,
        s.backup_name,
        s.phase.value,
        *(getattr(s.counts, k) for k in _COUNT_COLUMNS),
        len(s.warnings),
        created.isoformat() if created else "",
    ]


@app.command()
def get(
    name: str = typer.Argument(None, help="one restore (default: all)"),
    location: str = LocationOption,
    output: OutputFormat = OutputOption,
) -> None:
    """List restores recorded in the location."""
    loc = resolve_location(location, access_mode=AccessMode.ReadOnly)
    if name is not None:
        restores = [records.load_restore(loc, name)]
    else:
        listing = records.list_restores(loc)
        for skipped in listing.skipped:
            warn(str(skipped))
        restores = listing.records
    data: Any = [r.to_json_dict() for r in restores]
    columns = [
        "NAME",
        "BACKUP",
        "PHASE",
        *(c.upper() for c in _COUNT_COLUMNS),
        "WARNINGS",
        "STARTED",
    ]

    def table() -> None:
        if not restores:
            info(f"no restores in {loc.url}")
            return
        print_table(columns, [_row(r) for r in restores])

    emit(data[0] if name is not None else data, output, table)


@app.command()
def describe(
    name: str = typer.Argument(...),
    location: str = LocationOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Show a restore: outcome counts, warnings with diffs and errors by namespace."""
    loc = resolve_location(location, access_mode=AccessMode.ReadOnly)
    restore = records.load_restore(loc, name)
    items = engine.read_results(loc, name)
    s = restore.status

    def table() -> None:
        spec = restore.spec
        lines = [
            f"Name:        {name}",
            f"Backup:      {s.backup_name}"
            + (f" (latest of schedule {spec.schedule_name})" if spec.schedule_name else ""),
            f"Phase:       {s.phase.value}",
            f"Target:      {s.target_server}",
            f"Started:     {s.start_timestamp}",
            f"Completed:   {s.completion_timestamp}",
            f"Items:       {len(items)} ({_counts(restore)})",
        ]
        if spec.namespace_mappings:
            shown = ", ".join(f"{a}:{b}" for a, b in spec.namespace_mappings.items())
            lines.append(f"Namespaces:  {shown}")
        if spec.storage_class_mappings:
            shown = ", ".join(f"{a}:{b}" for a, b in spec.storage_class_mappings.items())
            lines.append(f"Storage:     {shown}")
        if s.failure_reason:
            lines.append(f"Failure:     {s.failure_reason}")
        skipped = Counter(i.reason or "" for i in items if i.outcome is Outcome.skipped)
        if skipped:
            lines.append("Skipped:")
            lines += [f"  {n:>5}  {reason}" for reason, n in skipped.most_common()]
        if s.volumes:
            lines.append("Volumes:")
            lines += [
                f"  {v.namespace}/{v.claim}  {v.outcome}  {v.driver}  snapshot {v.snapshot_handle}"
                + (f"  volume {v.volume}" if v.volume else "")
                + (f"  ({v.message})" if v.message else "")
                for v in s.volumes
            ]
        lines += describe_issues("Warnings", s.warnings) + describe_issues("Errors", s.errors)
        for line in lines:
            console.print(line, highlight=False, markup=False)

    emit(
        {"restore": restore.to_json_dict(), "items": [i.to_json_dict() for i in items]},
        output,
        table,
    )


@app.command()
def logs(name: str = typer.Argument(...), location: str = LocationOption) -> None:
    """Print the log of a restore."""
    loc = resolve_location(location, access_mode=AccessMode.ReadOnly)
    records.load_restore(loc, name)  # a clear error for an unknown restore
    console.print(engine.read_log(loc, name), end="", highlight=False, markup=False)
