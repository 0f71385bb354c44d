"""`--in-cluster`: hand a backup or restore to the backupd controller and follow it.

Without the flag backupctl runs the engine itself: that works on a new, empty cluster
during an incident, with nothing installed. With it, a Backup or Restore resource is
created in the controller's namespace (`--controller-namespace`, default backupd) and
its status (phase, progress) is followed until it ends. Ctrl-C stops following, never
the work: the resource keeps running in the cluster.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from backupd.api import GROUP, VERSION
from backupd.api.backup import LOCATION_LABEL, BackupSpec
from backupd.api.common import Model, Phase
from backupd.api.restore import RestoreSpec
from backupd.errors import BackupdError, ClusterConflict, ClusterNotFound, UserInputError
from backupd.storage.catalog import default_restore_name
from cli.common import Namespaced, kube_client, progress_bar
from cli.output import OutputFormat, emit, info

if TYPE_CHECKING:
    from backupd.cluster.client import JSON  # annotations only (fast start)

FINAL = frozenset(p.value for p in Phase if p.final)
POLL = 0.5  # seconds between two reads of the resource
SILENCE = 30.0  # still New after this long: say the controller may not be running


@dataclass(frozen=True)
class Kind:
    kind: str  # Backup
    plural: str  # backups
    done_field: str  # the status.progress field counting items done

    @property
    def word(self) -> str:
        return self.kind.lower()


BACKUP = Kind("Backup", "backups", "itemsBackedUp")
RESTORE = Kind("Restore", "restores", "itemsDone")


def in_cluster_option(what: str) -> Any:
    return typer.Option(
        False,
        "--in-cluster",
        help=f"let the backupd controller run the {what}: create a {what.capitalize()} "
        "resource in its namespace (--controller-namespace, default backupd) and follow "
        f"it. Without it backupctl runs the {what} itself, which also works on a new, "
        "empty cluster during an incident",
    )


ControllerNamespaceOption: Any = typer.Option(
    "backupd",
    "--controller-namespace",
    envvar="BACKUPD_NAMESPACE",
    help="with --in-cluster: the backupd controller's namespace",
)
WaitOption: Any = typer.Option(
    True,
    "--wait/--no-wait",
    help="wait for the final phase (the default). Without --in-cluster backupctl runs the "
    "work itself and always waits; with it, --wait follows the resource until it ends "
    "and --no-wait prints its name and returns",
)


@dataclass(frozen=True)
class Target:
    """The cluster (kubeconfig, context) and the controller's namespace in it."""

    kubeconfig: str | None
    context: str | None
    namespace: str


def refuse(flags: dict[str, bool], why: str) -> None:
    """A one-line error for flags given that have no meaning with --in-cluster."""
    given = [flag for flag, is_given in flags.items() if is_given]
    if given:
        raise UserInputError(f"{', '.join(given)} cannot be used with --in-cluster: {why}")


class Resources(Namespaced):
    """backupd's resources in the controller's namespace: what the CLI needs of them."""

    def require_installed(self, kind: Kind) -> None:
        """A one-line error unless the cluster serves the kind (backupd's CRDs installed)."""
        try:
            served = self.kube.get(f"/apis/{GROUP}/{VERSION}").get("resources") or []
        except ClusterNotFound:
            served = []
        if not any(r.get("name") == kind.plural for r in served):
            raise BackupdError(
                f"backupd is not installed in this cluster (no {kind.plural}.{GROUP} resource); "
                f"run without --in-cluster to let backupctl run the {kind.word} itself"
            )

    def require_location(self, name: str) -> None:
        try:
            self.kube.get(self.path("storagelocations", name))
        except ClusterNotFound:
            raise UserInputError(
                f"storage location {name} not found in namespace {self.namespace} "
                f"(with --in-cluster, --location names a StorageLocation resource)"
            ) from None

    def create(self, kind: Kind, name: str, spec: Model) -> JSON:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind.kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec.to_json_dict(),
        }
        try:
            return self.kube.post(self.path(kind.plural), body)
        except ClusterConflict:
            raise UserInputError(
                f"{kind.word} {name} already exists in namespace {self.namespace}"
            ) from None
        except ClusterNotFound:
            raise UserInputError(
                f"namespace {self.namespace} not found: is the backupd controller in another "
                "namespace? (--controller-namespace)"
            ) from None

    def get(self, kind: Kind, name: str) -> JSON:
        try:
            return self.kube.get(self.path(kind.plural, name))
        except ClusterNotFound:
            raise BackupdError(
                f"{kind.word} {name} was deleted from namespace {self.namespace} while followed"
            ) from None


def shown(obj: JSON) -> JSON:
    """The resource as printed: without the server's field-manager bookkeeping."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def phase_of(obj: JSON) -> str:
    return str((obj.get("status") or {}).get("phase") or Phase.new.value)


def location_of(obj: JSON) -> str:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    where = labels.get(LOCATION_LABEL)
    return f"storage location {where}" if where else "the controller's storage location"


def follow(
    res: Resources,
    kind: Kind,
    name: str,
    update: Callable[[int, int], None],
    *,
    poll: float = POLL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> JSON:
    """Read the resource every `poll` seconds, feed its progress to `update`, and return
    it once its phase is final."""
    started = clock()
    noted = False
    while True:
        obj = res.get(kind, name)
        progress = (obj.get("status") or {}).get("progress") or {}
        done = int(progress.get(kind.done_field) or 0)
        update(done, int(progress.get("totalItems") or 0))
        phase = phase_of(obj)
        if phase in FINAL:
            return obj
        if phase == Phase.new.value and not noted and clock() - started > SILENCE:
            info(
                f"note: {kind.word} {name} is still New after {SILENCE:.0f}s: "
                f"is the backupd controller running in namespace {res.namespace}?"
            )
            noted = True
        sleep(poll)


def submit(
    kind: Kind,
    name: str,
    spec: Model,
    target: Target,
    *,
    wait: bool,
    output: OutputFormat,
    location: str | None = None,
    progress: bool = True,
) -> JSON | None:
    """Create the resource and, with `wait`, follow it to its end and return it. Without
    `wait` print its name (or the resource, for -o json|yaml) and return None."""
    ns = target.namespace
    with kube_client(target.kubeconfig, target.context) as kube:
        res = Resources(kube, ns)
        res.require_installed(kind)
        if location is not None:
            res.require_location(location)
        created = res.create(kind, name, spec)
        if not wait:
            info(f"{kind.word} {name} created in namespace {ns}")
            emit(shown(created), output, lambda: typer.echo(name))
            return None
        info(f"{kind.word} {name} created in namespace {ns}; following it")
        try:
            with progress_bar(f"{kind.word} {name}", enabled=progress) as update:
                return shown(follow(res, kind, name, update))
        except KeyboardInterrupt:
            info(
                f"stopped following; {kind.word} {name} keeps running in the cluster "
                f"(kubectl -n {ns} get {kind.plural}.{GROUP} {name})"
            )
            raise typer.Exit(130) from None


@dataclass(frozen=True)
class Ended:
    data: JSON  # the final resource, as printed
    elapsed: float  # seconds from creating it to its end
    where: str  # the storage location it used, for the summary


def backup(
    name: str,
    spec: BackupSpec,
    target: Target,
    *,
    location: str | None,
    encryption_key: str | None,
    wait: bool,
    output: OutputFormat,
) -> Ended | None:
    """`backup create --in-cluster`: `location` names a StorageLocation (default: the
    controller's default one)."""
    refuse(
        {"--encryption-key": encryption_key is not None},
        "the controller uses the keys of its StorageLocation",
    )
    if location is not None and "://" in location:
        raise UserInputError(
            f"with --in-cluster, --location names a StorageLocation in namespace "
            f"{target.namespace}, not a URL ({location[:80]})"
        )
    spec = spec.model_copy(update={"storage_location": location})
    started = time.monotonic()
    obj = submit(BACKUP, name, spec, target, wait=wait, output=output, location=location)
    if obj is None:
        return None
    return Ended(obj, time.monotonic() - started, location_of(obj))


def restore(
    name: str | None,
    spec: RestoreSpec,
    target: Target,
    *,
    local_only: dict[str, bool],
    wait: bool,
    output: OutputFormat,
) -> Ended | None:
    """`restore create --in-cluster`: the controller reads the backup from the location
    its Backup resource used. `local_only` are the flags given that only backupctl's own
    run knows (refused here)."""
    refuse(local_only, "they apply when backupctl runs the restore itself")
    if name is None:
        source = spec.backup_name or spec.schedule_name or ""
        name = default_restore_name(source, datetime.datetime.now(datetime.UTC))
    started = time.monotonic()
    obj = submit(
        RESTORE, name, spec, target, wait=wait, output=output, progress=output is OutputFormat.table
    )
    if obj is None:
        return None
    return Ended(obj, time.monotonic() - started, location_of(obj))
