"""`backupctl backup`: create, list, inspect, download and delete backups."""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path
from typing import Any

import typer

from backupd.api.backup import Backup, ClusterResources
from backupd.api.common import Phase, parse_duration
from backupd.api.masking import mask_secret
from backupd.backup import engine, stored
from backupd.backup import verify as verifying
from backupd.backup.inspect import ItemFilter
from backupd.backup.lookup import find_item
from backupd.cluster import identity
from backupd.errors import ArchiveError, BackupdError, NotFoundError, UserInputError
from backupd.restore.filters import parse_selector
from backupd.snapshots import backup as volume_snapshots
from backupd.snapshots import csi as snapshot_csi
from backupd.snapshots import deletion as snapshot_deletion
from backupd.snapshots import plan as snapshot_plan
from backupd.storage import catalog, records, sealing, velero, volumesnapshots
from backupd.storage.layout import BackupKeys, validate_name
from backupd.storage.location import Location
from cli import backup_diff, backup_view, incluster
from cli.common import (
    BackupArgument,
    ContextOption,
    KubeconfigOption,
    LocationOption,
    YesOption,
    kube_client,
    progress_bar,
)
from cli.completion import backup_names
from cli.completion import namespaces as completion_namespaces
from cli.config import resolve_location
from cli.keysettings import AllowUnsignedOption
from cli.output import OutputFormat, OutputOption, emit, info, print_table, warn
from cli.running import bar_reporter, exit_interrupted, interruptible
from cli.selection import (
    ClusterResourcesOption,
    ExcludeNamespacesOption,
    ExcludeResourcesOption,
    IncludeNamespacesOption,
    IncludeResourcesOption,
    SelectorOption,
    backup_spec,
)

app = typer.Typer(no_args_is_help=True, help="Create, list, inspect, download and delete backups.")


def _exit_for(backup: Backup) -> None:
    phase = backup.status.phase
    if phase is Phase.failed:
        raise BackupdError(f"backup {backup.metadata.name} Failed: {backup.status.failure_reason}")
    if phase is Phase.partially_failed:
        raise BackupdError(
            f"backup {backup.metadata.name} PartiallyFailed "
            f"with {len(backup.status.errors)} error(s)",
            hint=f"see: backupctl backup describe {backup.metadata.name}",
        )


@app.command()
def create(
    name: str = typer.Argument(..., help="backup name (lower case, digits, '-', '.'; at most 63)"),
    include_namespaces: list[str] = IncludeNamespacesOption,
    exclude_namespaces: list[str] = ExcludeNamespacesOption,
    include_resources: list[str] = IncludeResourcesOption,
    exclude_resources: list[str] = ExcludeResourcesOption,
    selector: str = SelectorOption,
    include_cluster_resources: ClusterResources = ClusterResourcesOption,
    ttl: str = typer.Option("720h", "--ttl", help="how long to keep it, e.g. 720h, 30d"),
    compression: str = typer.Option("gzip", "--compression", help="gzip or zstd"),
    snapshot_volumes: bool = typer.Option(
        None,
        "--snapshot-volumes/--no-snapshot-volumes",
        help="snapshot the claims' volumes (default: when the cluster has snapshot classes)",
    ),
    snapshot_class: str = typer.Option(
        None, "--snapshot-class", help="VolumeSnapshotClass for its driver (default: the default)"
    ),
    snapshot_timeout: str = typer.Option(
        "10m", "--snapshot-timeout", help="how long a snapshot may take to become ready"
    ),
    snapshot_concurrency: int = typer.Option(
        4, "--snapshot-concurrency", min=1, max=64, help="snapshots in flight at once"
    ),
    encryption_key: str = typer.Option(
        None,
        "--encryption-key",
        help="encrypt the archive and index with this key (a file or secret:NAMESPACE/NAME); "
        "default: the location's encryption key, if any",
    ),
    location: str = LocationOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    in_cluster: bool = incluster.in_cluster_option("backup"),
    controller_namespace: str = incluster.ControllerNamespaceOption,
    wait: bool = incluster.WaitOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Back up the selected namespaces now (with --in-cluster: through the backupd
    controller; --location then names one of its StorageLocations).

    Leaving out --include-namespaces (-n) backs up the whole cluster: every namespace,
    and the cluster-scoped objects they use (--include-cluster-resources). Volume data
    is kept as snapshots of the PersistentVolumeClaims' volumes: CSI VolumeSnapshots
    (when a VolumeSnapshotClass serves the volume's driver) or EBS snapshots; a volume
    that can be snapshotted neither way is reported as a warning, and --no-snapshot-volumes
    takes none. The data stays in the snapshots, not in the archive.
    """
    if compression not in ("gzip", "zstd"):
        raise UserInputError(f"unknown compression {compression!r}; use gzip or zstd")
    validate_name(name)
    spec = backup_spec(
        include_namespaces,
        exclude_namespaces,
        include_resources,
        exclude_resources,
        selector,
        include_cluster_resources,
        ttl,
        compression=compression,  # checked above
        snapshot_volumes=snapshot_volumes,
        snapshot_class=snapshot_class,
        snapshot_timeout=snapshot_timeout,
        snapshot_concurrency=snapshot_concurrency,
    )
    parse_duration(snapshot_timeout)
    if in_cluster:
        target = incluster.Target(kubeconfig, context, controller_namespace)
        ended = incluster.backup(
            name,
            spec,
            target,
            location=location,
            encryption_key=encryption_key,
            wait=wait,
            output=output,
        )
        if ended is not None:
            data = ended.data
            _summarize(Backup.from_stored(data), data, ended.elapsed, ended.where, output)
        return
    loc = resolve_location(location, encryption_key=encryption_key)
    velero.refuse_writes(loc, f"create backup {name}")
    spec.storage_location = loc.url
    started = time.monotonic()
    with (
        kube_client(kubeconfig, context) as kube,
        progress_bar(f"backup {name}") as update,
        interruptible(f"backup {name}") as stop,
    ):
        if snapshot_class and snapshot_volumes is not False:
            snapshot_plan.check_class(snapshot_class, snapshot_csi.classes(kube))  # first
        backup = engine.run(
            name,
            spec,
            kube=kube,
            location=loc,
            report=bar_reporter(update),
            cancel=stop,
            volumes=volume_snapshots.take_all,
        )
    if stop.is_set():
        exit_interrupted(
            f"backup {name} recorded as {backup.status.phase} "
            f"({backup.status.failure_reason or 'finished'}) after "
            f"{backup.status.progress.items_backed_up} items; see: backupctl backup describe {name}"
        )
    _summarize(backup, backup.to_json_dict(), time.monotonic() - started, loc.url, output)


def _summarize(
    backup: Backup, data: dict[str, Any], elapsed: float, where: str, output: OutputFormat
) -> None:
    """Print the ended backup (`data` for -o json|yaml) and exit as its phase says."""
    st = backup.status

    def table() -> None:
        size = st.archive.size if st.archive else 0
        info(
            f"backup {backup.metadata.name} {st.phase}: {st.progress.items_backed_up} items, "
            f"{len(st.errors)} errors, {len(st.warnings)} warnings, {size} bytes, "
            f"in {elapsed:.1f}s, stored in {where}"
        )

    emit(data, output, table)
    _exit_for(backup)


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


@app.command("get")
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


@app.command()
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


@app.command()
def logs(
    name: str = BackupArgument,
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
) -> None:
    """Print a backup's log: what was listed, per resource and namespace, with how many
    items; what was taken for the items' needs; warnings, errors and the outcome."""
    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    backup = stored.load(loc, name)
    if backup.status.log is None:
        raise NotFoundError(f"backup {name} has no log")
    data = loc.get_bytes(backup.status.log.key, sha256=backup.status.log.sha256)
    sys.stdout.write(gzip.decompress(data).decode(errors="replace"))


@app.command()
def download(
    name: str = BackupArgument,
    directory: Path = typer.Option(Path("."), "-d", "--directory", help="where to put the archive"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
) -> None:
    """Download a backup's archive as NAME.tar.gz|zst: signature and sha256 verified,
    decrypted if encrypted, written 0600; an existing file is kept unless --force."""
    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    backup = stored.load(loc, name)
    suffix = Path(BackupKeys(name).archive(backup.spec.compression)).name.split(".", 1)[1]
    dest = directory / f"{name}.{suffix}"
    directory.mkdir(parents=True, exist_ok=True)
    if velero.is_velero(backup):  # Velero's tarball as stored: no digest, no signature
        key = velero.VeleroKeys(name).contents
        size = sealing.save(lambda: loc.get(key), dest, force=force)
        info(f"downloaded {size} bytes of a Velero backup (unsigned: nothing to verify)")
        typer.echo(str(dest))
        return
    size = sealing.download_to(loc, backup, "archive", dest, force=force)
    sealed = ", decrypted" if backup.status.encryption else ""
    signed = ", signature verified" if backup.signature and loc.keyring.trusted else ""
    info(f"downloaded {size} bytes, sha256 verified{signed}{sealed}")
    typer.echo(str(dest))


@app.command()
def delete(
    name: str = BackupArgument,
    yes: bool = YesOption,
    location: str = LocationOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
) -> None:
    """Delete a backup from storage (its metadata first, so it is never half-listed), and
    its volume snapshots; snapshots that cannot be deleted yet are recorded and retried."""
    loc = resolve_location(location)
    doomed = catalog.deletion(loc, name)
    if not yes:
        if not sys.stdin.isatty():
            raise UserInputError("refusing to delete without confirmation; pass --yes")
        typer.confirm(
            f"delete backup {name} ({len(doomed.objects)} objects) from {loc.url}?", abort=True
        )
    _remember_snapshots(loc, name)
    deleted = doomed.execute()
    info(f"backup {name} deleted ({deleted} objects)")
    _delete_snapshots(loc, kubeconfig, context)


def _remember_snapshots(loc: Location, name: str) -> None:
    """Before the backup goes, its snapshots are recorded under pending-deletions/."""
    try:
        snapshot_deletion.remember(loc, records.load_backup(loc, name))
    except NotFoundError:
        pass  # never committed: it recorded no snapshots
    except ArchiveError as e:
        warn(f"the volume snapshots of backup {name} cannot be read, so not deleted: {e}")


def _delete_snapshots(loc: Location, kubeconfig: str | None, context: str | None) -> None:
    """Delete the recorded snapshots (this backup's and any an earlier delete left);
    those that cannot go yet stay recorded and are retried by every later delete."""
    outcome = snapshot_deletion.retry_pending(loc, kube=lambda: kube_client(kubeconfig, context))
    if outcome.deleted:
        info(f"deleted {len(outcome.deleted)} volume snapshot(s)")
    for why in outcome.left:
        warn(f"volume snapshot not deleted yet (recorded, retried by the next delete): {why}")


@app.command()
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
    if output in (OutputFormat.table, OutputFormat.wide):
        raise UserInputError(f"-o {output.value}: one object prints as yaml, json or name")
    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    with stored.opened(loc, stored.load(loc, backup_name)) as opened:
        entry = find_item(opened.entries, item, namespace, backup_name)
        read = mask_secret(opened.reader.read(entry.path))
    obj = {"apiVersion": entry.api_version, "kind": entry.kind, **read}
    emit(obj, output, lambda: None)


@app.command()
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


@app.command()
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
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """List items added, removed and changed from backup A to backup B (or, with --live,
    to the live cluster), grouped by namespace, with field diffs (Secret values masked)."""
    if (b is None) != live:
        raise UserInputError("give BACKUP_B or --live (not both)")
    flt = ItemFilter.of(namespace, kind or [], hide_owned)
    loc = resolve_location(location, access_mode="ReadOnly", allow_unsigned=allow_unsigned)
    if live:
        with kube_client(kubeconfig, context) as kube:
            report = backup_diff.against_live(loc, a, kube, flt)
    else:
        report = backup_diff.between(loc, a, b, flt)
    emit(report.to_dict(), output, lambda: backup_diff.print_report(report))
