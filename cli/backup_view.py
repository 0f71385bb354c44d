"""How backups look to a person: table rows and the describe page."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rich.markup import escape
from rich.text import Text

from backupd.api.backup import Backup, ClusterInfo
from backupd.api.common import Phase
from backupd.errors import NotFoundError
from backupd.storage.location import Location
from backupd.storage.records import NoBackupChosen
from cli.output import console, print_table
from cli.output import timestamp as _ts

if TYPE_CHECKING:  # annotations only: `backup get` never reads an archive (fast start)
    from backupd.api.snapshots import VolumeSnapshots

PHASE_STYLES = {
    Phase.completed: "green",
    Phase.partially_failed: "yellow",
    Phase.in_progress: "yellow",
    Phase.failed: "red",
}


def phase_text(phase: Phase) -> Text:
    """A phase, coloured as Velero users expect (green Completed, yellow PartiallyFailed
    and InProgress, red Failed); rich prints the colour only on a terminal."""
    return Text(str(phase), style=PHASE_STYLES.get(phase, ""))


def relative(until: datetime.datetime | None, now: datetime.datetime) -> str:
    """How long from `now` until `until`, as kubectl prints durations (`29d`, `3d4h`,
    `5h`, `4h59m`, `12m`, `40s`); `expired` once it has passed (a naive time is UTC)."""
    if until is None:
        return ""
    if until.tzinfo is None:
        until = until.replace(tzinfo=datetime.UTC)
    seconds = int((until - now).total_seconds())
    if seconds <= 0:
        return "expired"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400

    def pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
        return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"

    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return pair(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return pair(days, "d", hours % 24, "h")
    if days < 365 * 2:
        return f"{days}d"
    return pair(days // 365, "y", days % 365, "d") if days < 365 * 8 else f"{days // 365}y"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


COLUMNS = [
    "NAME",
    "STATUS",
    "ERRORS",
    "WARNINGS",
    "CREATED",
    "EXPIRES",
    "ITEMS",
    "SIZE",
    "SCOPE",
    "LOCATION",
    "CLUSTER",
]


# -o wide: how long it kept, how long it took, and whether it is sealed
WIDE = ["TTL", "DURATION", "ENCRYPTED", "SIGNED"]


def wide_row(b: Backup) -> list[str]:
    st = b.status
    took = (
        f"{(st.completion_timestamp - st.start_timestamp).total_seconds():.1f}s"
        if st.start_timestamp and st.completion_timestamp
        else "-"
    )
    return [b.spec.ttl, took, "yes" if st.encryption else "no", "yes" if b.signature else "no"]


def cluster(info: ClusterInfo) -> str:
    """`<uid prefix>@<host:port>`: short, and enough to tell a bucket's clusters apart."""
    try:
        host = urlsplit(info.server).netloc or info.server
    except ValueError:
        host = info.server
    uid = info.id[:8]
    return f"{uid}@{host}" if uid and host else uid or host or "-"


def with_flags(e: NoBackupChosen) -> NotFoundError:
    """The error of a --latest/--from-schedule that found nothing, with the flags that
    would widen the choice."""
    hints = [e.hint] if e.hint else []
    if e.partial:
        hints.append("--allow-partial takes one of those")
    if e.other_clusters:
        hints.append("--any-cluster chooses from every cluster")
    return NotFoundError(e.message, hint="; ".join(hints) or None)


def row(b: Backup, now: datetime.datetime | None = None) -> list[str | Text]:
    """A `backup get` row: STATUS coloured, EXPIRES relative to `now` (default: now)."""
    st = b.status
    return [
        b.metadata.name,
        phase_text(st.phase),
        str(len(st.errors)),
        str(len(st.warnings)),
        _ts(b.metadata.creation_timestamp),
        relative(st.expiration, now or datetime.datetime.now(datetime.UTC)),
        str(st.progress.items_backed_up),
        human_size(st.archive.size) if st.archive else "-",
        b.spec.scope(),
        b.spec.storage_location or "-",
        cluster(st.cluster),
    ]


def print_description(
    b: Backup,
    *,
    details: bool,
    volumes: VolumeSnapshots | None = None,
    items: dict[str, list[str]] | None = None,
) -> None:
    """The describe page; with `details`, counts, then `items` (every object, grouped
    by apiVersion/Kind, from backupd.backup.inspect.resource_list) and volumes."""
    st, spec = b.status, b.spec
    p = console.print
    p(f"[bold]Name:[/]         {b.metadata.name}", highlight=False)
    p(Text.assemble(("Phase:", "bold"), "        ", phase_text(st.phase)), highlight=False)
    if st.failure_reason:
        p(Text.assemble(("Failure:", "bold"), "      ", st.failure_reason), highlight=False)
    source = getattr(b, "source", None)  # a Velero backup (backupd.storage.velero_record)
    if source is not None:
        p(
            f"[bold]Written by:[/]   Velero (format {escape(source.format_version or '?')}), "
            "unsigned, read-only to backupd",
            highlight=False,
        )
    p(
        f"[bold]Namespaces:[/]   include {','.join(spec.included_namespaces)}"
        f"{'  exclude ' + ','.join(spec.excluded_namespaces) if spec.excluded_namespaces else ''}",
        highlight=False,
    )
    p(
        f"[bold]Resources:[/]    include {','.join(spec.included_resources)}"
        f"{'  exclude ' + ','.join(spec.excluded_resources) if spec.excluded_resources else ''}",
        highlight=False,
    )
    p(f"[bold]Selector:[/]     {escape(spec.label_selector or '<none>')}", highlight=False)
    p(f"[bold]Scope:[/]        {escape(spec.scope())}", highlight=False)
    p(f"[bold]Cluster-scoped:[/] {spec.include_cluster_resources}", highlight=False)
    p(f"[bold]Location:[/]     {spec.storage_location or ''}", highlight=False)
    p(f"[bold]Started:[/]      {_ts(st.start_timestamp)}", highlight=False)
    p(f"[bold]Completed:[/]    {_ts(st.completion_timestamp)}", highlight=False)
    left = relative(st.expiration, datetime.datetime.now(datetime.UTC))
    left = "" if not left else "expired, " if left == "expired" else f"in {left}, "
    p(f"[bold]Expires:[/]      {_ts(st.expiration)} ({left}ttl {spec.ttl})", highlight=False)
    p(
        f"[bold]Cluster:[/]      {st.cluster.describe()} (version {st.cluster.version or '?'})",
        highlight=False,
    )
    p(f"[bold]Items:[/]        {st.progress.items_backed_up}", highlight=False)
    for label, obj in (("Archive", st.archive), ("Index", st.index), ("Log", st.log)):
        if obj:
            p(
                f"[bold]{label + ':':<13}[/] {obj.key} {human_size(obj.size)} "
                f"sha256:{obj.sha256[:16]}",
                highlight=False,
            )
    for title, issues in (("Errors", st.errors), ("Warnings", st.warnings)):
        p(f"[bold]{title}:[/] {len(issues)}", highlight=False)
        for issue in issues:
            p(f"  {issue.where()}: {issue.message}", highlight=False, markup=False)
    p(
        f"[bold]Skipped resources:[/] {len(st.skipped_resources)} (see -o yaml for reasons)",
        highlight=False,
    )
    if details:
        print_table(["RESOURCE", "ITEMS"], sorted(st.resource_counts.items()), title="Per resource")
        print_table(
            ["NAMESPACE", "ITEMS"], sorted(st.namespace_counts.items()), title="Per namespace"
        )
        if items is not None:
            print_items(items)
        else:
            console.print("[bold]Resource List:[/] none stored (no index)", highlight=False)
        if volumes is not None:
            print_volumes(volumes)


def item_list(loc: Location, b: Backup) -> dict[str, list[str]] | None:
    """Every object of the backup by apiVersion/Kind (backupd.backup.inspect), or None
    when it stores no index (it Failed before one was written)."""
    from backupd.backup import stored
    from backupd.backup.inspect import resource_list

    try:
        return resource_list(stored.load_index(loc, b).entries)
    except NotFoundError:
        return None


def print_items(items: dict[str, list[str]]) -> None:
    """Every object of the backup, as Velero's `describe --details` lists them."""
    console.print("[bold]Resource List:[/]", highlight=False)
    for kind, names in items.items():
        console.print(f"  {kind}:", highlight=False, markup=False)
        for name in names:
            console.print(f"    - {name}", highlight=False, markup=False)


def print_volumes(volumes: VolumeSnapshots) -> None:
    """`backup describe --details`: each claim's snapshot, its size, driver and state."""
    print_table(
        ["CLAIM", "DRIVER", "SIZE", "RESTORE SIZE", "SNAPSHOT", "STATE", "MESSAGE"],
        [
            (
                f"{v.namespace}/{v.claim}",
                v.driver or "-",
                human_size(v.size) if v.size else "-",
                human_size(v.restore_size) if v.restore_size else "-",
                v.snapshot_handle or "-",
                v.state.value,
                v.message or "",
            )
            for v in volumes.items
        ],
        title="Volumes",
    )
