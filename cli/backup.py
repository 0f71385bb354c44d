"""`backupctl backup`: create, list, inspect, download and delete backups.

The `backup` group and the commands that write (create, download, delete) live here;
the ones that only read stored backups (get, describe, logs, show, verify, diff) are in
cli/backup_inspect.py, registered on this same `app` at the bottom, in help order.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from backupd.api.backup import Backup, ClusterResources
from backupd.api.common import Phase, parse_duration
from backupd.backup import engine
from backupd.errors import ArchiveError, BackupdError, NotFoundError, UserInputError
from backupd.snapshots import backup as volume_snapshots
from backupd.snapshots import csi as snapshot_csi
from backupd.snapshots import deletion as snapshot_deletion
from backupd.snapshots import plan as snapshot_plan
from backupd.storage import catalog, records, velero
from backupd.storage.layout import BackupKeys, validate_name
from backupd.storage.location import Location
from cli import backup_inspect, incluster
from cli.common import (
    BackupArgument,
    ContextOption,
    KubeconfigOption,
    LocationOption,
    YesOption,
    kube_client,
    progress_bar,
)
from cli.config import resolve_location
from cli.keysettings import AllowUnsignedOption
from cli.output import OutputFormat, OutputOption, emit, info, warn
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


def download(
    name: str = BackupArgument,
    directory: Path = typer.Option(Path("."), "-d", "--directory", help="where to put the archive"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    allow_unsigned: bool = AllowUnsignedOption,
    location: str = LocationOption,
) -> None:
    """Download a backup's archive as NAME.tar.gz|zst: signature and sha256 verified,
    decrypted if encrypted, written 0600; an existing file is kept unless --force."""
    from backupd.backup import stored  # the archive's reader and sealing: not for `get`
    from backupd.storage import sealing

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


# In the order `backupctl backup --help` lists them; the read commands are in
# cli/backup_inspect.py.
app.command("create")(create)
app.command("get")(backup_inspect.get)
app.command("describe")(backup_inspect.describe)
app.command("logs")(backup_inspect.logs)
app.command("download")(download)
app.command("delete")(delete)
app.command("show")(backup_inspect.show)
app.command("verify")(backup_inspect.verify)
app.command("diff")(backup_inspect.diff)
