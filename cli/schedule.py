"""`backupctl schedule ...`: Schedule resources in the cluster, run by the backupd controller.

    backupctl schedule create nightly --schedule "0 2 * * *" --timezone Europe/Paris \\
        --include-namespaces shop --ttl 720h --keep-last 7 --keep-weekly 4
    backupctl schedule get | describe NAME | pause NAME | unpause NAME | trigger NAME | delete NAME

The controller's namespace is `--controller-namespace` (default: $BACKUPD_NAMESPACE, then
backupd), as with `--in-cluster`; `-n` is short for `--include-namespaces`, as everywhere.
`trigger` creates a Backup from the schedule's template at once, named and labelled as
a scheduled run is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError

from backupd.api import GROUP, VERSION
from backupd.api.backup import SCHEDULE_LABEL, BackupSpec, ClusterResources
from backupd.api.common import now, parse_duration
from backupd.api.schedule import Retention, ScheduleSpec
from backupd.backup import cron
from backupd.errors import ClusterConflict, ClusterNotFound, NotFoundError, UserInputError
from backupd.storage.layout import validate_name
from cli.common import ContextOption, KubeconfigOption, Namespaced, kube_client
from cli.output import OutputFormat, OutputOption, console, emit, info, print_table, timestamp
from cli.selection import (
    ClusterResourcesOption,
    ExcludeNamespacesOption,
    ExcludeResourcesOption,
    IncludeNamespacesOption,
    IncludeResourcesOption,
    SelectorOption,
    backup_spec,
)

if TYPE_CHECKING:
    from backupd.cluster.client import JSON  # annotations only (fast start)

app = typer.Typer(no_args_is_help=True, help="Schedules of backups, run by the backupd controller.")
NamespaceOption = typer.Option(
    "backupd",
    "--controller-namespace",
    envvar="BACKUPD_NAMESPACE",
    metavar="NAMESPACE",
    help="the backupd controller's namespace, where its Schedules live",
)
ScheduleArgument = typer.Argument(..., metavar="NAME", help="the schedule's name")
_COLUMNS = ("NAME", "STATUS", "SCHEDULE", "TIME ZONE", "PAUSED", "LAST BACKUP", "TTL", "KEEP")


class Schedules(Namespaced):
    """Schedule (and Backup) resources in one namespace."""

    def get(self, name: str) -> JSON:
        try:
            return self.kube.get(self.path("schedules", name))
        except ClusterNotFound:
            raise NotFoundError(
                f"schedule {name} not found in namespace {self.namespace}"
            ) from None

    def list(self) -> list[JSON]:
        items: list[JSON] = self.kube.get(self.path("schedules")).get("items", [])
        return items

    def create(self, plural: str, kind: str, body: JSON) -> JSON:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, **body}
        try:
            return self.kube.post(self.path(plural), body)
        except ClusterConflict:
            what = kind.lower()
            raise UserInputError(
                f"{what} {body['metadata']['name']} already exists in {self.namespace}"
            ) from None

    def patch(self, name: str, spec: dict[str, Any]) -> JSON:
        self.get(name)  # a clear NotFoundError first
        return self.kube.request(
            "PATCH",
            self.path("schedules", name),
            body={"spec": spec},
            content_type="application/merge-patch+json",
        )


def build_spec(
    *,
    schedule: str,
    timezone: str,
    paused: bool,
    template: BackupSpec,
    keep_last: int | None,
    keep_daily: int | None,
    keep_weekly: int | None,
    keep_monthly: int | None,
    owner_references: bool,
) -> ScheduleSpec:
    """The spec the flags describe, checked as the controller will check it."""
    cron.trigger(schedule, timezone)
    parse_duration(template.ttl)
    for flag, value in (
        ("--keep-last", keep_last),
        ("--keep-daily", keep_daily),
        ("--keep-weekly", keep_weekly),
        ("--keep-monthly", keep_monthly),
    ):
        if value is not None and value < 1:
            raise UserInputError(f"{flag} must be at least 1")
    return ScheduleSpec(
        schedule=schedule,
        time_zone=timezone,
        paused=paused,
        template=template,
        use_owner_references_in_backup=owner_references,
        retention=Retention(
            keep_last=keep_last,
            keep_daily=keep_daily,
            keep_weekly=keep_weekly,
            keep_monthly=keep_monthly,
        ),
    )


def _keep(spec: dict[str, Any]) -> str:
    retention = spec.get("retention") or {}
    parts = [f"{k.removeprefix('keep').lower()}={v}" for k, v in retention.items() if v]
    return ",".join(parts) or "-"


def _row(obj: JSON) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        status.get("phase", "New"),
        spec.get("schedule"),
        spec.get("timeZone", "UTC"),
        "yes" if spec.get("paused") else "no",
        status.get("lastBackup", "-"),
        (spec.get("template") or {}).get("ttl", "720h"),
        _keep(spec),
    ]


@app.command()
def create(
    name: str = typer.Argument(..., help="schedule name (backups are <name>-<YYYYMMDDHHMMSS>)"),
    schedule: str = typer.Option(
        ..., "--schedule", help='cron line, e.g. "0 2 * * *" (6 fields: seconds first), @daily'
    ),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of the cron line"),
    include_namespaces: list[str] = IncludeNamespacesOption,
    exclude_namespaces: list[str] = ExcludeNamespacesOption,
    include_resources: list[str] = IncludeResourcesOption,
    exclude_resources: list[str] = ExcludeResourcesOption,
    selector: str = SelectorOption,
    include_cluster_resources: ClusterResources = ClusterResourcesOption,
    ttl: str = typer.Option("720h", "--ttl", help="how long each backup is kept"),
    storage_location: str = typer.Option(
        None,
        "--storage-location",
        "--location",
        metavar="NAME",
        help="StorageLocation resource name (default: the controller's default one)",
    ),
    keep_last: int = typer.Option(None, "--keep-last", help="keep the newest N backups"),
    keep_daily: int = typer.Option(None, "--keep-daily", help="the newest of each of N days"),
    keep_weekly: int = typer.Option(None, "--keep-weekly", help="... of N ISO weeks"),
    keep_monthly: int = typer.Option(None, "--keep-monthly", help="... of N months"),
    paused: bool = typer.Option(False, "--paused", help="create it paused"),
    owner_references: bool = typer.Option(
        False, "--use-owner-references-in-backup", help="backups are deleted with the schedule"
    ),
    namespace: str = NamespaceOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Create a schedule; the backupd controller runs it."""
    validate_name(name, "schedule")
    try:
        template = backup_spec(
            include_namespaces,
            exclude_namespaces,
            include_resources,
            exclude_resources,
            selector,
            include_cluster_resources,
            ttl,
            storage_location=storage_location,
        )
    except ValidationError as e:
        raise UserInputError(f"invalid backup template: {e.errors()[0]['msg']}") from None
    spec = build_spec(
        schedule=schedule,
        timezone=timezone,
        paused=paused,
        template=template,
        keep_last=keep_last,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        keep_monthly=keep_monthly,
        owner_references=owner_references,
    )
    store = Schedules(kube_client(kubeconfig, context), namespace)
    created = store.create(
        "schedules", "Schedule", {"metadata": {"name": name}, "spec": spec.to_json_dict()}
    )
    emit(created, output, lambda: info(f"schedule {name} created ({schedule} {timezone})"))


@app.command()
def get(
    name: str = typer.Argument(None, help="one schedule (default: all)"),
    namespace: str = NamespaceOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """List schedules, or show one."""
    store = Schedules(kube_client(kubeconfig, context), namespace)
    data: Any = store.get(name) if name else store.list()
    rows = [_row(o) for o in (data if isinstance(data, list) else [data])]
    emit(data, output, lambda: print_table(_COLUMNS, rows))


@app.command()
def describe(
    name: str = ScheduleArgument,
    namespace: str = NamespaceOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """A schedule in full: spec, status, the last skipped run and its recent backups."""
    store = Schedules(kube_client(kubeconfig, context), namespace)
    obj = store.get(name)
    runs = store.kube.get(store.path("backups"), labelSelector=f"{SCHEDULE_LABEL}={name}")
    backups = sorted(runs.get("items", []), key=lambda b: b["metadata"]["name"])
    summary = [_backup_line(b) for b in backups]
    emit({**obj, "backups": summary}, output, lambda: _describe(obj, summary))


def _backup_line(b: JSON) -> dict[str, Any]:
    status = b.get("status") or {}
    return {"name": b["metadata"]["name"], "phase": status.get("phase", "New")}


def _describe(obj: JSON, backups: list[dict[str, Any]]) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    template = spec.get("template") or {}
    lines = [
        f"Name:         {obj['metadata']['name']}",
        f"Namespace:    {obj['metadata'].get('namespace')}",
        f"Phase:        {status.get('phase', 'New')}",
        f"Schedule:     {spec.get('schedule')} ({spec.get('timeZone', 'UTC')})",
        f"Paused:       {'yes' if spec.get('paused') else 'no'}",
        f"Namespaces:   {','.join(template.get('includedNamespaces') or ['*'])}",
        f"TTL:          {template.get('ttl', '720h')}",
        f"Retention:    {_keep(spec)}",
        f"Last backup:  {status.get('lastBackup', '-')} {timestamp(status.get('lastBackupTime'))}",
    ]
    skipped = status.get("lastSkipped")
    if skipped:
        lines.append(
            f"Last skipped: {timestamp(skipped.get('time'))}: {skipped.get('reason')} "
            f"({status.get('skippedRuns', 0)} skipped in all)"
        )
    for error in status.get("validationErrors") or []:
        lines.append(f"Invalid:      {error}")
    lines.append(f"Backups ({len(backups)}):")
    lines += [f"  {b['name']}  {b['phase']}" for b in backups]
    console.print("\n".join(lines), highlight=False, markup=False)


def _pausing(paused: bool, done: str, doc: str) -> Callable[..., None]:
    """The `pause` (paused=True) or `unpause` command: set spec.paused, say `done`."""

    def command(
        name: str = ScheduleArgument,
        namespace: str = NamespaceOption,
        kubeconfig: str = KubeconfigOption,
        context: str = ContextOption,
        output: OutputFormat = OutputOption,
    ) -> None:
        store = Schedules(kube_client(kubeconfig, context), namespace)
        obj = store.patch(name, {"paused": paused})
        emit(obj, output, lambda: info(f"schedule {name} {done}"))

    command.__doc__ = doc
    return command


pause = app.command("pause")(_pausing(True, "paused", "Stop making backups until unpaused."))
unpause = app.command("unpause")(_pausing(False, "unpaused", "Make backups again."))


@app.command()
def delete(
    name: str = ScheduleArgument,
    namespace: str = NamespaceOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Delete a schedule. Its backups stay (unless they carry owner references to it)."""
    store = Schedules(kube_client(kubeconfig, context), namespace)
    store.get(name)
    store.kube.delete(store.path("schedules", name))
    emit({"deleted": name}, output, lambda: info(f"schedule {name} deleted"))


@app.command()
def trigger(
    name: str = ScheduleArgument,
    namespace: str = NamespaceOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Run the schedule now: a Backup from its template, named and labelled as its runs."""
    store = Schedules(kube_client(kubeconfig, context), namespace)
    obj = store.get(name)
    spec = ScheduleSpec.from_stored(obj.get("spec") or {})
    backup = cron.backup_name(name, now())
    body = {
        "metadata": {"name": backup, "labels": {SCHEDULE_LABEL: name}},
        "spec": spec.template.to_json_dict(),
    }
    created = store.create("backups", "Backup", body)
    emit(created, output, lambda: info(f"backup {backup} created from schedule {name}"))
