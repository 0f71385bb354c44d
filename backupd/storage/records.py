"""Stored records: the one loader of the backups and restores a location holds.

    load_backup, load_restore      one committed record by name (errors if absent/damaged)
    list_backups, list_restores    every committed record, and each damaged one skipped
    latest                         the newest Completed backup that fits (pure)
    choose_latest                  the same, read from a location

A record is read leniently and checked strictly: fields this version does not know
are ignored at any depth (a newer backupd wrote them), anything else wrong (not JSON,
not an object, failing validation, naming another object) makes the record damaged.
A damaged record is skipped with its reason and never hides the rest of a location.

Storage is a trust boundary: a backup's signature is checked against the keys of its
location (backupd.trust.signing; TrustError when loading one, skipped when listing),
and the keys it names for its archive, index and log must be the layout's.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from backupd.api.backup import SCHEDULE_LABEL, Backup, ClusterInfo, normalize_server
from backupd.api.common import Phase
from backupd.api.restore import Restore
from backupd.errors import ArchiveError, BackupdError, NotFoundError, TrustError
from backupd.storage import velero
from backupd.storage.catalog import Skipped, read_committed, scan_committed
from backupd.storage.layout import BackupKeys, metadata_key
from backupd.storage.location import Location
from backupd.trust.signing import verify

R = TypeVar("R", Backup, Restore)

_EPOCH = datetime.datetime.min.replace(tzinfo=datetime.UTC)


@dataclass
class Listing(Generic[R]):
    """The readable records of a location, and the damaged ones skipped."""

    records: list[R] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _invalid(e: ValidationError | BackupdError, what: str) -> str:
    if isinstance(e, BackupdError):
        return f"not a valid {what} record: {e}"
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" and {e.error_count() - 1} more" if e.error_count() > 1 else ""
    return f"not a valid {what} record: {where}: {first['msg']}{more}"


def _validate(model: type[R], document: dict[str, Any]) -> R | str:
    what = model.__name__.lower()
    try:
        return model.from_stored(document)
    except (ValidationError, BackupdError) as e:  # a validator may raise UserInputError
        return _invalid(e, what)


def _checked(location: Location, model: type[R], document: dict[str, Any], name: str) -> R | str:
    """A backup's signature is checked on the document as stored (TrustError), then
    the record is validated and its object keys checked against the layout."""
    if model is not Backup:
        return _validate(model, document)
    verify(document, location.keyring, f"backup {name}")
    record = _validate(model, document)
    if isinstance(record, Backup):
        st = record.status
        stored = {"archive": st.archive, "index": st.index, "log": st.log}
        stored["volumesnapshots"] = getattr(st, "volume_snapshots", None)
        recorded = {role: obj.key if obj else None for role, obj in stored.items()}
        problems = BackupKeys(name).mismatches(record.spec.compression, recorded)
        if problems:
            return f"not a valid backup record: {problems[0]}"
    return record


def _list(location: Location, model: type[R], kind: str) -> Listing[R]:
    documents, skipped = scan_committed(location, kind)
    listing: Listing[R] = Listing(skipped=skipped)
    for document in documents:
        try:
            record = _checked(location, model, document, str(document["metadata"]["name"]))
        except TrustError as e:
            record = str(e)
        if isinstance(record, str):
            key = metadata_key(kind, str(document["metadata"]["name"]))
            listing.skipped.append(Skipped(key, record))
        else:
            listing.records.append(record)
    listing.skipped.sort(key=lambda s: s.key)
    return listing


def _load(location: Location, model: type[R], kind: str, name: str) -> R:
    record = _checked(location, model, read_committed(location, name, kind), name)
    if isinstance(record, str):
        raise ArchiveError(f"{metadata_key(kind, name)} in {location.url} is {record}")
    return record


def list_backups(location: Location) -> Listing[Backup]:
    """Every committed backup (any final phase), sorted by name; with Velero's finished
    backups where the location reads them (backupd.storage.velero)."""
    if location.format == velero.VELERO:
        listing: Listing[Backup] = Listing()
    else:
        listing = _list(location, Backup, "backups")
    if velero.reads_velero(location):
        found, skipped = velero.list_velero(location)
        listing.records = sorted([*listing.records, *found], key=lambda b: b.metadata.name)
        listing.skipped = sorted(
            [*listing.skipped, *(Skipped(k, why) for k, why in skipped)], key=lambda s: s.key
        )
    return listing


def list_restores(location: Location) -> Listing[Restore]:
    """Every committed restore, sorted by name."""
    return _list(location, Restore, "restores")


def load_backup(location: Location, name: str) -> Backup:
    """The committed backup `name`: NotFoundError if absent or not final, ArchiveError
    if its record is damaged. A Velero backup where the location reads them."""
    if location.format == velero.VELERO:
        return velero.load_velero(location, name)
    try:
        return _load(location, Backup, "backups", name)
    except NotFoundError:
        if velero.reads_velero(location) and velero.has_velero(location, name):
            return velero.load_velero(location, name)
        raise


def load_restore(location: Location, name: str) -> Restore:
    return _load(location, Restore, "restores", name)


def newest_first(backups: Iterable[Backup]) -> list[Backup]:
    """By creation time, newest first; the name breaks ties (and orders undated ones)."""
    return sorted(
        backups,
        key=lambda b: (b.metadata.creation_timestamp or _EPOCH, b.metadata.name),
        reverse=True,
    )


# -- choosing the backup a restore should use ----------------------------------------


@dataclass(frozen=True)
class SourceCluster:
    """Whose backups to choose from: `matches` says if a backup's cluster is it."""

    description: str
    matches: Callable[[ClusterInfo], bool]


def this_cluster(current: ClusterInfo) -> SourceCluster:
    """The cluster we talk to (by kube-system UID; by server URL for old records)."""
    return SourceCluster(f"this cluster ({current.describe()})", current.same_cluster)


def named_cluster(ref: str) -> SourceCluster:
    """A cluster named by its kube-system UID (or a prefix of 8 or more characters) or
    its API server URL."""
    wanted = ref.strip()

    def matches(info: ClusterInfo) -> bool:
        if info.id and (info.id == wanted or (len(wanted) >= 8 and info.id.startswith(wanted))):
            return True
        return bool(info.server) and normalize_server(info.server) == normalize_server(wanted)

    return SourceCluster(f"cluster {wanted}", matches)


def holds_namespace(backup: Backup, namespace: str) -> list[str]:
    """Why `backup` does not hold all of `namespace` ([] if it does)."""
    reasons = backup.spec.narrowing(namespace)
    if not reasons and namespace not in backup.status.namespace_counts:
        reasons.append(f"it holds no object of namespace {namespace}")
    return reasons


class NoBackupChosen(NotFoundError):
    """No backup fits; counts of those left out by cluster and by scope, for hints."""

    def __init__(self, message: str, *, hint: str | None, other_clusters: int, partial: int):
        super().__init__(message, hint=hint)
        self.other_clusters = other_clusters
        self.partial = partial


@dataclass(frozen=True)
class Wanted:
    """What a caller wants the latest backup of. `cluster` None: any cluster."""

    schedule: str | None = None
    namespace: str | None = None
    allow_partial: bool = False
    cluster: SourceCluster | None = None

    def describe(self) -> str:
        text = "Completed backup"
        if self.schedule:
            text += f" of schedule {self.schedule}"
        if self.namespace:
            text += f" {'with objects of' if self.allow_partial else 'holding all of'}"
            text += f" namespace {self.namespace}"
        if self.cluster:
            text += f" from {self.cluster.description}"
        return text


def latest(backups: Iterable[Backup], wanted: Wanted, where: str) -> Backup:
    """The newest Completed backup that fits `wanted`; NoBackupChosen says what was
    left out (backups of other clusters, backups holding only part of the namespace)."""
    from_schedule = [
        b
        for b in newest_first(backups)
        if b.status.phase is Phase.completed
        and (wanted.schedule is None or b.metadata.labels.get(SCHEDULE_LABEL) == wanted.schedule)
    ]
    mine: list[Backup] = []
    others: list[Backup] = []
    for b in from_schedule:
        ours = wanted.cluster is None or wanted.cluster.matches(b.status.cluster)
        (mine if ours else others).append(b)
    partial: list[tuple[Backup, list[str]]] = []
    for b in mine:
        if wanted.namespace is None:
            return b
        reasons = holds_namespace(b, wanted.namespace)
        if not reasons or (wanted.allow_partial and wanted.namespace in b.status.namespace_counts):
            return b
        if wanted.namespace in b.status.namespace_counts:
            partial.append((b, reasons))
    hints: list[str] = []
    if partial:
        b, reasons = partial[0]
        hints.append(
            f"{len(partial)} hold only part of namespace {wanted.namespace}, the newest "
            f"{b.metadata.name} ({'; '.join(reasons)})"
        )
    if wanted.namespace is not None:
        others = [b for b in others if wanted.namespace in b.status.namespace_counts]
    if others:
        hints.append(
            f"{len(others)} came from other clusters, the newest {others[0].metadata.name} "
            f"from {others[0].status.cluster.describe()}"
        )
    raise NoBackupChosen(
        f"no {wanted.describe()} in {where}",
        hint="; ".join(hints) or None,
        other_clusters=len(others),
        partial=len(partial),
    )


@dataclass
class Chosen:
    backup: Backup
    skipped: list[Skipped]


def choose_latest(location: Location, wanted: Wanted) -> Chosen:
    """`latest` over the backups of `location`; the damaged records skipped come along."""
    listing = list_backups(location)
    return Chosen(latest(listing.records, wanted, location.url), listing.skipped)
