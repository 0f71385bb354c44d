"""`backupctl drill get|describe|report`: the drills stored in a location, read back.

    backupctl drill get [NAME...]           NAME BACKUP VERDICT RTO RPO STARTED TARGET
    backupctl drill describe NAME           the verdict, RTO/RPO, what failed, per namespace
    backupctl drill report NAME [--format md|html|json] [--output-file F] [--open]

The Markdown and HTML are rendered again from the stored report.json (validated, its
digest checked), never copied from the bucket: a page opened in a browser is always
one backupd escaped, whoever could write to the bucket.
"""

from __future__ import annotations

import json
import sys
import tempfile
import webbrowser
from enum import StrEnum
from pathlib import Path

import typer
from rich.text import Text

from backupd.api.drill import DrillReport
from backupd.drill import html, markdown, store, summary
from backupd.errors import NotFoundError, UserInputError
from cli.common import LocationOption
from cli.config import resolve_location
from cli.output import (
    OutputFormat,
    OutputOption,
    console,
    emit,
    info,
    print_table,
    timestamp,
    warn,
)

COLUMNS = ("NAME", "BACKUP", "VERDICT", "RTO", "RPO", "STARTED", "TARGET")


class ReportFormat(StrEnum):
    md = "md"
    html = "html"
    json = "json"


def _verdict(report: DrillReport) -> Text:
    return Text(report.verdict.value, style="green" if report.passed else "bold red")


def row(report: DrillReport) -> list[object]:
    return [
        report.metadata.name,
        report.backup_name,
        _verdict(report),
        summary.rto(report),
        summary.rpo(report),
        timestamp(report.started),
        summary.target(report),
    ]


def get(
    names: list[str] = typer.Argument(None, help="drills to show (default: all)"),
    location: str = LocationOption,
    output: OutputFormat = OutputOption,
) -> None:
    """List the drills stored in a location, newest first: verdict, RTO and RPO."""
    loc = resolve_location(location, access_mode="ReadOnly")
    reports, skipped = store.scan_drills(loc)
    for s in skipped:
        warn(str(s))
    if names:
        wanted = set(names)
        reports = [r for r in reports if r.metadata.name in wanted]
        missing = wanted - {r.metadata.name for r in reports}
        if missing:
            raise NotFoundError(f"drill(s) not found in {loc.url}: {', '.join(sorted(missing))}")
    emit(
        [r.to_json_dict() for r in reports],
        output,
        lambda: print_table(COLUMNS, [row(r) for r in reports]),
    )


def _line(text: str = "") -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def print_description(report: DrillReport) -> None:
    times = report.times
    facts = [
        ("Name", summary.clean(report.metadata.name)),
        ("Verdict", summary.verdict_word(report)),
        (
            "RTO",
            f"{summary.rto(report)} (restore {summary.duration(times.restore_seconds)}, "
            f"readiness {summary.duration(times.readiness_seconds)})",
        ),
        ("RPO", f"{summary.rpo(report)} (backup age at the start)"),
        ("Source", f"{summary.source(report)}, completed {timestamp(report.backup_completed)}"),
        ("Target", summary.target(report)),
        ("Started", timestamp(report.started)),
        ("Finished", timestamp(report.finished)),
        ("Verified", f"{'yes' if report.verified else 'no'}: {summary.verification(report)}"),
        ("Restore", summary.restore_counts(report)),
        ("Readiness", summary.ready_count(report)),
    ]
    if report.restore_name:
        facts.append(("Restore name", summary.clean(report.restore_name)))
    for key, value in facts:
        _line(f"{key + ':':<14}{value}")
    found = summary.problems(report)
    _line()
    _line("What failed:" if found else "What failed: nothing")
    for p in found:
        _line(f"  - {p}")
    for notice in report.notices:
        _line(f"  note: {summary.clean(notice)}")
    if report.namespaces:
        _line()
        print_table(
            ("NAMESPACE", "ITEMS", "CREATED", "SKIPPED", "FAILED", "READY"),
            [
                (
                    summary.clean(n.namespace or "(cluster-scoped)"),
                    n.items,
                    n.created,
                    n.skipped,
                    n.failed,
                    f"{n.workloads_ready}/{n.workloads}",
                )
                for n in report.namespaces
            ],
        )
    stuck = [w for w in report.workloads if not w.ready]
    if stuck:
        _line()
        _line("Not ready:")
        for w in stuck:
            _line(f"  {summary.workload(w)}: {summary.clean(w.reason or 'no reason recorded')}")
            for event in w.events:
                _line(f"      {summary.clean(event)}")
    if report.timeline:
        _line()
        _line("Timeline:")
        for e in summary.timeline(report):
            _line(f"  {summary.offset(report, e):>9}  {e.step:<10} {summary.clean(e.message)}")
    _line()
    _line(f"Report: backupctl drill report {summary.clean(report.metadata.name)} --open")


def describe(
    name: str,
    location: str = LocationOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Show a drill: verdict, RTO and RPO, what failed and why, namespaces, timeline."""
    loc = resolve_location(location, access_mode="ReadOnly")
    report = store.load(loc, name)
    emit(report.to_json_dict(), output, lambda: print_description(report))


def _render(report: DrillReport, fmt: ReportFormat) -> str:
    if fmt is ReportFormat.md:
        return markdown.render(report)
    if fmt is ReportFormat.html:
        return html.render(report)
    return json.dumps(report.to_json_dict(), indent=2) + "\n"


def _open(page: Path) -> None:
    try:
        opened = webbrowser.open(page.resolve().as_uri())
    except webbrowser.Error:
        opened = False
    if not opened:
        warn(f"no desktop browser found; open {page} yourself")


def report(
    name: str,
    fmt: ReportFormat = typer.Option(
        None,
        "--format",
        "-f",
        help="md (default), html (one self-contained page) or json; --open implies html",
    ),
    output_file: Path = typer.Option(
        None, "--output-file", help="write the report to this file instead of stdout"
    ),
    open_browser: bool = typer.Option(
        False, "--open", help="write the HTML page and open it with the desktop browser"
    ),
    location: str = LocationOption,
) -> None:
    """Print or write a drill's report (Markdown, HTML or JSON); --open shows the HTML."""
    if open_browser and fmt not in (None, ReportFormat.html):
        raise UserInputError(f"--open shows the HTML page; it does not go with --format {fmt}")
    fmt = fmt or (ReportFormat.html if open_browser else ReportFormat.md)
    loc = resolve_location(location, access_mode="ReadOnly")
    text = _render(store.load(loc, name), fmt)
    if output_file is None and not open_browser:
        sys.stdout.write(text)
        return
    if output_file is None:
        output_file = Path(tempfile.mkdtemp(prefix="backupd-report-")) / f"{name}.html"
    if output_file.is_dir():
        raise UserInputError(f"--output-file {output_file} is a directory; give a file name")
    try:
        output_file.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UserInputError(f"cannot write {output_file}: {e.strerror or e}") from None
    info(f"wrote the {fmt.value} report of drill {name} to {output_file}")
    if open_browser:
        _open(output_file)


def register(app: typer.Typer) -> None:
    """Add get, describe and report to the `drill` group."""
    app.command("get")(get)
    app.command("describe")(describe)
    app.command("report")(report)
