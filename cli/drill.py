"""`backupctl drill`: restore drills that prove a backup comes back, with a report.

`drill run` lives here; `drill get|describe|report` read stored drills back
(cli/drill_view.py, registered on this same `app` by `drill_view.register`).

    backupctl drill run (--from-backup NAME | --from-schedule NAME [--latest])
                        (--ephemeral | --kubeconfig FILE [--context CTX] [--i-know])
                        [--name NAME] [--ready-timeout 10m] [--location L] [-o json|yaml]

Progress goes to stderr, one line per step; the verdict, RTO/RPO and where the report
is stored to stdout (-o json|yaml: the report). Exit 0 when the drill passed, 1 when
it failed, 130 when interrupted (an ephemeral cluster is torn down first).
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable

import typer

from backupd.api.drill import DrillReport, DrillSpec, DrillTargetKind, TimelineEntry
from backupd.api.progress import Callbacks
from backupd.drill import run as drill_run
from backupd.drill import summary
from backupd.errors import UserInputError
from backupd.storage.catalog import default_restore_name, unused_name
from backupd.storage.layout import validate_name
from backupd.storage.location import Location
from cli import drill_view
from cli.common import ContextOption, LocationOption, progress_bar
from cli.config import resolve_location
from cli.keysettings import AllowUnsignedOption
from cli.output import OutputFormat, OutputOption, console, emit, err_console

app = typer.Typer(
    no_args_is_help=True,
    help="Restore drills: prove a backup comes back, with a report.",
)


@app.callback()
def drill() -> None:
    """Restore drills: prove a backup comes back, with a report."""


def default_name(location: Location, backup: str, at: datetime.datetime) -> str:
    """`drill-<backup>-<YYYYMMDDHHMMSS>`, unused by drills and restores alike (the
    drill's restore takes its name)."""
    name = default_restore_name(f"drill-{backup}", at)
    return unused_name(location, unused_name(location, name, "restores"), "drills")


def _progress() -> Callable[[TimelineEntry], None]:
    """Each timeline entry as a line on stderr, timed from the drill's start."""
    first: list[datetime.datetime] = []

    def line(entry: TimelineEntry) -> None:
        first[:] = first or [entry.at]
        at = summary.duration((entry.at - first[0]).total_seconds())
        err_console.print(
            f"[+{at}] {entry.step}: {summary.clean(entry.message)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    return line


def print_outcome(report: DrillReport, stored: str | None) -> None:
    """The verdict line, RTO and RPO, what failed, and where the report is."""
    name = summary.clean(report.metadata.name)
    lines = [
        f"drill {name} {summary.verdict_word(report)}: {summary.source(report)} into "
        f"{summary.target(report)}; {summary.ready_count(report)}",
        f"RTO {summary.rto(report)} (restore {summary.duration(report.times.restore_seconds)}, "
        f"readiness {summary.duration(report.times.readiness_seconds)}); "
        f"RPO {summary.rpo(report)} (backup age at the start)",
    ]
    lines += [f"  problem: {p}" for p in summary.problems(report)]
    lines += [f"  note: {summary.clean(n)}" for n in report.notices]
    if stored:
        lines.append(f"report: {stored} (backupctl drill report {name})")
    else:
        lines.append("report: not stored (the location is ReadOnly); -o json prints it")
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("run")
def run(
    from_backup: str = typer.Option(None, "--from-backup", help="the backup to drill"),
    from_schedule: str = typer.Option(
        None, "--from-schedule", help="drill the latest Completed backup of this schedule"
    ),
    latest: bool = typer.Option(
        False, "--latest", help="with --from-schedule: its latest Completed backup (the default)"
    ),
    ephemeral: bool = typer.Option(
        False,
        "--ephemeral",
        help="restore into a throw-away local cluster (fake nodes), torn down afterwards",
    ),
    kubeconfig: str = typer.Option(
        None,
        "--kubeconfig",
        help="restore into the cluster of this kubeconfig (a temporary one; never the "
        "backup's source cluster without --i-know). $KUBECONFIG is not used here",
    ),
    context: str = ContextOption,
    i_know: bool = typer.Option(
        False, "--i-know", help="allow --kubeconfig to name the backup's own source cluster"
    ),
    name: str = typer.Option(
        None, "--name", help="drill name (default: drill-<backup>-<YYYYMMDDHHMMSS>)"
    ),
    ready_timeout: str = typer.Option(
        "10m", "--ready-timeout", help="how long the workloads may take to become ready"
    ),
    location: str = LocationOption,
    allow_unsigned: bool = AllowUnsignedOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Restore a backup into a throw-away cluster, wait until its workloads are ready,
    measure RTO and RPO, and store a report under drills/<name>/ in the location."""
    if (from_backup is None) == (from_schedule is None):
        raise UserInputError("give exactly one of --from-backup and --from-schedule")
    if latest and from_schedule is None:
        raise UserInputError("--latest goes with --from-schedule")
    if ephemeral == (kubeconfig is not None):
        raise UserInputError("give exactly one of --ephemeral and --kubeconfig")
    if context is not None and kubeconfig is None:
        raise UserInputError("--context goes with --kubeconfig")
    if output not in (OutputFormat.table, OutputFormat.json, OutputFormat.yaml):
        raise UserInputError(f"-o {output.value}: drill run prints table, json or yaml")
    if name is not None:
        validate_name(name, "drill")
    spec = DrillSpec(
        backup_name=from_backup,
        schedule_name=from_schedule,
        target=DrillTargetKind.ephemeral if ephemeral else DrillTargetKind.kubeconfig,
        kubeconfig=kubeconfig,
        context=context,
        ready_timeout=ready_timeout,
    )
    loc = resolve_location(location, allow_unsigned=allow_unsigned)
    if name is None:
        backup = drill_run.choose_backup(loc, spec).metadata.name
        name = default_name(loc, backup, datetime.datetime.now(datetime.UTC))
    cancel = threading.Event()
    with progress_bar("restoring", enabled=output is OutputFormat.table) as update:
        ran = drill_run.run(
            name,
            spec,
            location=loc,
            report=Callbacks(on_progress=update),
            cancel=cancel,
            i_know=i_know,
            on_entry=_progress(),
        )
    report = ran.report
    if output is OutputFormat.table:
        print_outcome(report, ran.stored)
    else:
        emit(report.to_json_dict(), output, lambda: None)
    if not report.passed:
        raise typer.Exit(1)


drill_view.register(app)  # get, describe, report: the stored drills (helper drill-report)
