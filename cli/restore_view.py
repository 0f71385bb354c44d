"""`backupctl restore get|describe|logs`: read the restores recorded in a location.

These commands only read (ReadOnly); `restore create` is in cli/restore.py, which
registers these on the same `restore` group in the order its help lists them, and
`restore delete` in cli/restore_delete.py. How a restore's counts read (`counts`) is
here and shared with `restore create`'s summary.

The engine is imported whole (cli/lazy.py registers it as lazy), never `from M import
name`, so `restore get` does not load it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import typer

from backupd.api.drill import WorkloadReadiness
from backupd.api.restore import ItemResult, Outcome, Restore
from backupd.restore import engine, report
from backupd.storage import records
from backupd.storage.location import AccessMode
from cli.common import LocationOption, RestoreArgument
from cli.completion import restore_names
from cli.config import resolve_location
from cli.output import OutputFormat, OutputOption, console, emit, info, print_table, timestamp, warn

# the outcome counts a restore records, in the order its tables show them
COUNT_COLUMNS = ["created", "updated", "unchanged", "differs", "skipped", "failed"]


def counts(restore: Restore) -> str:
    c = restore.status.counts.model_dump()
    dry = restore.spec.dry_run
    return (
        ", ".join(f"{c[k]} {report.outcome_word(Outcome(k), dry)}" for k in COUNT_COLUMNS if c[k])
        or "nothing to do"
    )


def _row(r: Restore) -> list[Any]:
    s = r.status
    created = r.metadata.creation_timestamp
    return [
        r.metadata.name,
        s.backup_name,
        s.phase.value,
        *(getattr(s.counts, k) for k in COUNT_COLUMNS),
        len(s.warnings),
        timestamp(created),
    ]


def get(
    name: str = typer.Argument(
        None, help="one restore (default: all)", autocompletion=restore_names
    ),
    location: str = LocationOption,
    output: OutputFormat = OutputOption,
) -> None:
    """List restores recorded in the location (-o wide: also when each ended, the
    target cluster and namespace mappings)."""
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
        *(c.upper() for c in COUNT_COLUMNS),
        "WARNINGS",
        "STARTED",
    ]

    def table(wide: bool = False) -> None:
        if not restores:
            info(f"no restores in {loc.url}")
            return
        more = ["COMPLETED", "TARGET", "NAMESPACE MAPPINGS"] if wide else []
        print_table([*columns, *more], [_row(r) + (_wide(r) if wide else []) for r in restores])

    emit(data[0] if name is not None else data, output, table, lambda: table(wide=True))


def _wide(r: Restore) -> list[Any]:
    mappings = ",".join(f"{a}:{b}" for a, b in r.spec.namespace_mappings.items())
    return [timestamp(r.status.completion_timestamp), r.status.target_server, mappings or "-"]


def describe(
    name: str = RestoreArgument,
    details: bool = typer.Option(
        False, "--details", help="also every item's result (created, updated, skipped ...)"
    ),
    location: str = LocationOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Show a restore: outcome counts, warnings with diffs and errors by namespace
    (with --details, every item's result)."""
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
            f"Started:     {timestamp(s.start_timestamp)}",
            f"Completed:   {timestamp(s.completion_timestamp)}",
            f"Items:       {len(items)} ({counts(restore)})",
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
        lines += report.describe_issues("Warnings", s.warnings) + report.describe_issues(
            "Errors", s.errors
        )
        for line in lines:
            console.print(line, highlight=False, markup=False)
        if s.workloads:
            console.print()
            print_table(
                ["KIND", "NAMESPACE", "NAME", "READY", "REASON"],
                [
                    [w.kind, w.namespace or "", w.name, _readiness(w), w.reason or ""]
                    for w in s.workloads
                ],
                title="Workloads",
            )
        if details:
            console.print()
            _item_table(restore, items)

    emit(
        {"restore": restore.to_json_dict(), "items": [i.to_json_dict() for i in items]},
        output,
        table,
    )


def _item_table(restore: Restore, items: list[ItemResult]) -> None:
    dry = restore.spec.dry_run
    rows = [
        [
            report.outcome_word(i.outcome, dry),
            i.group_resource,
            i.namespace or "",
            i.name,
            i.reason or "",
        ]
        for i in items
    ]
    print_table(["RESULT", "RESOURCE", "NAMESPACE", "NAME", "DETAIL"], rows, title="Items")


def _readiness(w: WorkloadReadiness) -> str:
    if w.ready:
        return "yes"
    return "no" if w.was_ready else "no (nor in the backup)"


def logs(name: str = RestoreArgument, location: str = LocationOption) -> None:
    """Print the log of a restore."""
    loc = resolve_location(location, access_mode=AccessMode.ReadOnly)
    records.load_restore(loc, name)  # a clear error for an unknown restore
    console.print(engine.read_log(loc, name), end="", highlight=False, markup=False)
