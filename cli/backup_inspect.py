"""`backupctl backup get|describe|logs|show|verify|diff`: read stored backups back.

These commands only read a location (ReadOnly, signatures checked); the ones that
write (create, download, delete) are in cli/backup.py, which registers these on the
same `backup` group in the order `backupctl backup --help` lists them.

`backup get` must start fast (issue 14): nothing heavy is imported here by name.
The engines' modules are imported whole and cli/lazy.py registers them as lazy, so
they run only when a command uses them.
"""

from __future__ import annotations

import codecs
import gzip
import io
import sys

import typer

from backupd.api.backup import Backup
from backupd.errors import ArchiveError, BackupdError, NotFoundError, UserInputError
from backupd.restore.filters import parse_selector
from backupd.storage import records
from cli import backup_view
from cli.common import (
    BackupArgument,
    ContextOption,
    KubeconfigOption,
    LocationOption,
    kube_client,
)
from cli.completion import backup_names
from cli.completion import namespaces as completion_namespaces
from cli.config import resolve_location
from cli.keysettings import AllowUnsignedOption
from cli.output import OutputFormat, OutputOption, emit, info, print_table, warn


def _source_cluster(
    any_cluster: bool, cluster: str | None, kubeconfig: str | None, context: str | None
) -> records.SourceCluster | None:
    """Whose backups --latest chooses from: this cluster's unless told otherwise; with
    no cluster to ask, every cluster's, and say so."""
    if any_cluster and cluster:
        raise UserInputError("give at most one of --any-cluster and --cluster")
    if any_cluster:
        return None
    if cluster:
        return records.named_cluster(cluster)
    from backupd.cluster import identity  # the API client: only when asked (fast start)

    try:
        with kube_client(kubeconfig, context) as kube:
            here = identity.current_cluster(kube)
    except BackupdError as e:
        info(
            f"note: no cluster to match backups to ({e}); "
            "choosing among the backups of every cluster"
        )
        return None
    if not here.id:
        info(f"note: cannot read namespace kube-system; matching backups by server {here.server}")
    return records.this_cluster(here)


def _latest(backups: list[Backup], wanted: records.Wanted, where: str) -> Backup:
    try:
        chosen = records.latest(backups, wanted, where)
    except records.NoBackupChosen as e:
        raise backup_view.with_flags(e) from None
    info(f"latest {wanted.describe()}: {chosen.metadata.name}")
    return chosen


def get(
    names: list[str] = typer.Argument(
        None, metavar="NAME", help="backups to show (default: all)", autocompletion=backup_names
    ),
    latest: bool = typer.Option(
        False,
        "--latest",
        help="only the newest Completed backup of this cluster "
        "(with --namespace: one holding all of it)",
    ),
    namespace: str = typer.Option(
        None,
        "-n",
        "--namespace",
        help="only backups holding it",
        autocompletion=completion_namespaces,
    ),
    selector: str = typer.Option(
        None,
        "--selector",
        "-l",
        metavar="SELECTOR",
        help="only backups whose labels match, e.g. backupd.io/schedule=nightly",
    ),
    allow_partial: bool = typer.Option(
        False,
        "--allow-partial",
        help="with --latest --namespace: also a backup holding only part of the namespace "
        "(a label selector or resource filter)",
    ),
    any_cluster: bool = typer.Option(
        False, "--any-cluster", help="with --latest: choose among every cluster's backups"
    ),
    cluster: str = typer.Option(
        None,
        "--cluster",
        help="with --latest: choose among this cluster's backups (kube-system UID or server URL)",
    ),
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """List backups in a location (only committed ones), newest first, with their scope
    and the cluster they came from."""
    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    listing = records.list_backups(loc)
    for skipped in listing.skipped:
        warn(str(skipped))
    backups = records.newest_first(listing.records)
    if names:
        wanted = set(names)
        backups = [b for b in backups if b.metadata.name in wanted]
        missing = wanted - {b.metadata.name for b in backups}
        if missing:
            raise NotFoundError(f"backup(s) not found in {loc.url}: {', '.join(sorted(missing))}")
    if selector:
        matches = parse_selector(selector)
        backups = [b for b in backups if matches(b.metadata.labels or {})]
    if latest:
        source = _source_cluster(any_cluster, cluster, kubeconfig, context)
        choice = records.Wanted(namespace=namespace, allow_partial=allow_partial, cluster=source)
        backups = [_latest(backups, choice, loc.url)]
    elif namespace:
        backups = [b for b in backups if namespace in b.status.namespace_counts]
    emit(
        [b.to_json_dict() for b in backups],
        output,
        lambda: print_table(backup_view.COLUMNS, [backup_view.row(b) for b in backups]),
        lambda: print_table(
            [*backup_view.COLUMNS, *backup_view.WIDE],
            [[*backup_view.row(b), *backup_view.wide_row(b)] for b in backups],
        ),
    )


def describe(
    name: str = BackupArgument,
    details: bool = typer.Option(
        False,
        "--details",
        help="counts per resource and per namespace, every object (grouped by kind) "
        "and the volume snapshots",
    ),
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Show a backup's spec, status, errors and warnings (its signature checked)."""
    from backupd.backup import stored  # the archive's reader: not for `get` (fast start)
    from backupd.storage import volumesnapshots

    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    backup = stored.load(loc, name)
    data = backup.to_json_dict()
    volumes = volumesnapshots.load(loc, backup) if details else None
    items = backup_view.item_list(loc, backup) if details else None
    if not details:
        data["status"].pop("resourceCounts", None)  # type: ignore[attr-defined]
        data["status"].pop("namespaceCounts", None)  # type: ignore[attr-defined]
    else:
        data["resourceList"] = items
        if volumes is not None:
            data["volumeSnapshots"] = volumes.to_json_dict()["items"]
    emit(
        data,
        output,
        lambda: backup_view.print_description(
            backup, details=details, volumes=volumes, items=items
        ),
    )


def logs(
    name: str = BackupArgument,
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
) -> None:
    """Print a backup's log: what was listed, per resource and namespace, with how many
    items; what was taken for the items' needs; warnings, errors and the outcome."""
    from backupd.backup import stored

    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    backup = stored.load(loc, name)
    if backup.status.log is None:
        raise NotFoundError(f"backup {name} has no log")
    data = loc.get_bytes(backup.status.log.key, sha256=backup.status.log.sha256)
    # decompressed a chunk at a time: a log is never whole in memory, however it unpacks
    decode = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
            while chunk := unpacked.read(1024 * 1024):
                sys.stdout.write(decode.decode(chunk))
    except (OSError, EOFError) as e:
        raise ArchiveError(f"the log of backup {name} is not valid gzip: {e}") from None
    sys.stdout.write(decode.decode(b"", final=True))


def show(
    backup_name: str = typer.Argument(
        ..., metavar="BACKUP", help="the backup's name", autocompletion=backup_names
    ),
    item: str = typer.Argument(
        ...,
        metavar="TYPE/NAME",
        help="any kubectl spelling: cm/settings, deploy/web, configmap/settings, "
        "deployments.apps/web",
    ),
    namespace: str = typer.Option(
        None, "-n", "--namespace", help="the object's namespace (namespaced objects)"
    ),
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
    output: OutputFormat = typer.Option(
        OutputFormat.yaml, "-o", "--output", metavar="FORMAT", help="yaml (default), json or name"
    ),
) -> None:
    """Print one object as it was in the backup, apiVersion and kind first (Secret
    values masked); an item not in the backup is an error naming the closest ones."""
    from backupd.api.masking import mask_secret
    from backupd.backup import stored
    from backupd.backup.lookup import find_item

    if output in (OutputFormat.table, OutputFormat.wide):
        raise UserInputError(f"-o {output.value}: one object prints as yaml, json or name")
    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    with stored.opened(loc, stored.load(loc, backup_name)) as opened:
        entry = find_item(opened.entries, item, namespace, backup_name)
        read = mask_secret(opened.reader.read(entry.path))
    obj = {"apiVersion": entry.api_version, "kind": entry.kind, **read}
    emit(obj, output, lambda: None)


def verify(
    names: list[str] = typer.Argument(
        None, metavar="NAME", help="backups to verify", autocompletion=backup_names
    ),
    all_backups: bool = typer.Option(False, "--all", help="verify every backup in the location"),
    read_data: bool = typer.Option(
        False, "--read-data", help="also decompress and parse every object"
    ),
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Check backups without restoring: signature, digests, and that the archive holds
    exactly the index's items (no duplicate, nothing missing or extra). Exits non-zero
    if any backup fails, one line per problem."""
    from backupd.backup import verify as verifying

    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    verdicts = verifying.verify(loc, names or [], every=all_backups, read_data=read_data)
    rows = [
        [v.name, "verified" if v.ok else "FAILED", v.items, ",".join(v.checked), problem]
        for v in verdicts
        for problem in (v.problems or [""])
    ]
    emit(
        [v.to_dict() for v in verdicts],
        output,
        lambda: print_table(["NAME", "RESULT", "ITEMS", "CHECKED", "PROBLEM"], rows),
    )
    failed = [v for v in verdicts if not v.ok]
    if len(failed) == 1 and len(verdicts) == 1:
        only = failed[0]
        raise BackupdError(f"backup {only.name} failed verification: {only.problems[0]}")
    if failed:
        names_failed = ", ".join(v.name for v in failed)
        raise BackupdError(
            f"{len(failed)} of {len(verdicts)} backups failed verification: {names_failed}"
        )


def diff(
    a: str = typer.Argument(
        ..., metavar="BACKUP_A", help="the older backup", autocompletion=backup_names
    ),
    b: str = typer.Argument(
        None, metavar="BACKUP_B", help="the newer backup (or --live)", autocompletion=backup_names
    ),
    live: bool = typer.Option(
        False, "--live", help="compare BACKUP_A with the live cluster: what changed since"
    ),
    namespace: str = typer.Option(
        None, "-n", "--namespace", metavar="NAMESPACE", help="only this namespace's items"
    ),
    kind: list[str] = typer.Option(
        None, "--kind", metavar="TYPE[,TYPE...]", help="only these types (deploy, cm, ...)"
    ),
    hide_owned: bool = typer.Option(
        False,
        "--hide-owned",
        help="hide controller-owned churn: Pods, ReplicaSets, Endpoints, EndpointSlices, "
        "ControllerRevisions and anything with a controller ownerReference",
    ),
    show_all: bool = typer.Option(
        False,
        "--show-all",
        help="compare also the types backupd never backs up nor restores (events, ...), "
        "which another tool's backup (Velero's) may hold",
    ),
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """List items added, removed and changed from backup A to backup B (or, with --live,
    to the live cluster), grouped by namespace, with field diffs (Secret values masked)."""
    from backupd.backup.inspect import ItemFilter
    from cli import backup_diff  # the live diff's API client and normalizers (fast start)

    if (b is None) != live:
        raise UserInputError("give BACKUP_B or --live (not both)")
    flt = ItemFilter.of(namespace, kind or [], hide_owned)
    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    if live:
        with kube_client(kubeconfig, context) as kube:
            report = backup_diff.against_live(loc, a, kube, flt, show_all=show_all)
    else:
        report = backup_diff.between(loc, a, b, flt, show_all=show_all)
    backup_diff.say_hidden(report)
    emit(report.to_dict(), output, lambda: backup_diff.print_report(report))
