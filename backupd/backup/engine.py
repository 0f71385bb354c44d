"""Run one backup: discover -> select -> stream paged LISTs -> archive -> commit.

The archive and its index are written to local temporary files as items arrive,
uploaded, and only then is `backup.json` written: the commit. A backup that fails
part-way is recorded as Failed (if storage still answers) and never as Completed.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from backupd.api.backup import Backup, BackupSpec, ClusterInfo, ClusterResources, SkippedResource
from backupd.api.common import Issue, ObjectMeta, Phase, StoredObject, now, parse_duration
from backupd.api.progress import NEVER, SILENT, Cancel, Reporter, Step, check
from backupd.api.snapshots import VolumeStep
from backupd.archive.writer import ArchiveWriter, gzip_file
from backupd.backup.grants import take_granting
from backupd.backup.log import Listings, OperationLog
from backupd.backup.pages import ListJob, list_jobs, prefetch
from backupd.backup.selection import (
    NamespaceFilter,
    ResourceFilter,
    backupable,
    combined_selector,
    validate_selector,
)
from backupd.cluster import discovery
from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.cluster.listing import list_pages
from backupd.errors import (
    BackupdError,
    ClusterError,
    ClusterNotFound,
    ClusterUnauthorized,
    ReadOnlyLocation,
    UserInputError,
)
from backupd.kinds.needs import Needs
from backupd.storage import claims, sealing, staging
from backupd.storage.layout import BackupKeys, validate_name
from backupd.storage.location import Location
from backupd.storage.volumesnapshots import store as store_volume_snapshots

EXCLUDE_LABEL = "backupd.io/exclude"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass
class _Run:
    """Mutable state of one backup while it runs."""

    backup: Backup
    writer: ArchiveWriter
    log: OperationLog
    report: Reporter
    cancel: Cancel
    total: int = 0
    done: int = 0
    needs: Needs = field(default_factory=Needs)  # what `auto` takes (backupd.kinds)
    resource_counts: Counter[str] = field(default_factory=Counter)
    namespace_counts: Counter[str] = field(default_factory=Counter)
    taken: set[tuple[str, str]] = field(default_factory=set)  # cluster-scoped (resource, name)
    claims: list[JSON] = field(default_factory=list)  # PVCs taken: backupd.snapshots
    listings: Listings = field(default_factory=Listings)  # per LIST, for the log

    def add(self, res: ApiResource, item: JSON) -> None:
        check(self.cancel)  # before the item: a cancelled backup takes nothing more
        meta = item.get("metadata") or {}
        meta.pop("managedFields", None)
        if (meta.get("labels") or {}).get(EXCLUDE_LABEL) == "true":
            return
        item["apiVersion"] = res.api_version
        item["kind"] = res.kind
        namespace = meta.get("namespace") if res.namespaced else None
        self.writer.add(
            group=res.group,
            version=res.version,
            kind=res.kind,
            resource=res.resource,
            namespace=namespace,
            name=meta["name"],
            data=orjson.dumps(item),
        )
        if namespace:
            self.namespace_counts[namespace] += 1
            if res.group_resource == "persistentvolumeclaims":
                self.claims.append(item)
            self.needs.note(item, res.group, res.resource, res.kind)
        else:
            self.taken.add((res.group_resource, meta["name"]))
        self.resource_counts[res.group_resource] += 1
        self.done += 1
        self.report.progress(self.done, max(self.total, self.done))

    def issue(
        self, kind: str, res: ApiResource | None, message: str, namespace: str | None = None
    ) -> None:
        entry = Issue(
            message=message, resource=res.group_resource if res else None, namespace=namespace
        )
        (self.backup.status.errors if kind == "error" else self.backup.status.warnings).append(
            entry
        )
        text = f"{entry.where()}: {message}"
        (self.log.error if kind == "error" else self.log.warning)(text)
        (self.report.error if kind == "error" else self.report.warning)(text)


def _fetch_dependencies(
    kube: KubeClient, run: _Run, by_gr: dict[str, ApiResource], res_filter: ResourceFilter
) -> None:
    """Take the cluster-scoped objects the namespaced items need, transitively (auto mode)."""
    while (ref := run.needs.next()) is not None:
        res = by_gr.get(ref.group_resource)
        if res is None or (ref.group_resource, ref.name) in run.taken:
            continue
        if not res_filter.matches(res):
            run.issue(
                "warning",
                res,
                f"{run.needs.describe(ref.key)}; not taken: the resource filters leave "
                f"{ref.group_resource} out",
            )
            continue
        try:
            obj = kube.get(res.path(None, ref.name))
        except ClusterNotFound:
            run.issue("warning", res, f"{run.needs.describe(ref.key)}; it does not exist")
            continue
        except ClusterError as e:
            run.issue("error", res, f"cannot get {ref.name}: {e}")
            continue
        run.log.info(f"taking {run.needs.describe(ref.key)}")
        run.add(res, obj)
        run.needs.note(obj, res.group, res.resource, res.kind)


def validate_spec(spec: BackupSpec) -> tuple[NamespaceFilter, ResourceFilter, str]:
    ns_filter = NamespaceFilter(
        tuple(spec.included_namespaces or ["*"]), tuple(spec.excluded_namespaces)
    )
    res_filter = ResourceFilter(
        tuple(spec.included_resources or ["*"]), tuple(spec.excluded_resources)
    )
    selector = combined_selector(validate_selector(spec.label_selector), EXCLUDE_LABEL)
    parse_duration(spec.ttl)
    return ns_filter, res_filter, selector


def run(
    name: str,
    spec: BackupSpec,
    *,
    kube: KubeClient,
    location: Location,
    report: Reporter = SILENT,
    cancel: Cancel = NEVER,
    labels: dict[str, str] | None = None,
    volumes: VolumeStep | None = None,
) -> Backup:
    """Back up what `spec` selects; returns the committed Backup (any final phase).

    Raises before writing anything for bad input, an unreachable cluster or an
    existing backup of the same name. `report` hears phases, progress, warnings and
    errors; `cancel` set ends the backup Failed ("cancelled") at the next item
    (see backupd.api.progress).
    """
    report.phase(Phase.new, Step.validating)
    keys = BackupKeys(validate_name(name))
    ns_filter, res_filter, selector = validate_spec(spec)
    if location.read_only:
        raise ReadOnlyLocation(
            f"location {location.url} is ReadOnly; a backup cannot be written there"
        )
    sealing.check_can_write(location.keyring, location.url)
    claim = claims.claim(location, name)  # of two runs with one name, one gets here
    try:
        return _claimed(
            name,
            spec,
            keys,
            (ns_filter, res_filter, selector),
            kube=kube,
            location=location,
            report=report,
            cancel=cancel,
            labels=labels,
            volumes=volumes,
        )
    except BaseException:
        claims.release(location, claim)  # only if nothing else was stored under the name
        raise


def _claimed(
    name: str,
    spec: BackupSpec,
    keys: BackupKeys,
    filters: tuple[NamespaceFilter, ResourceFilter, str],
    *,
    kube: KubeClient,
    location: Location,
    report: Reporter,
    cancel: Cancel,
    labels: dict[str, str] | None,
    volumes: VolumeStep | None = None,
) -> Backup:
    """The backup, once its name is claimed (see backupd.storage.claims)."""
    ns_filter, res_filter, selector = filters
    started = now()
    backup = Backup(
        metadata=ObjectMeta(name=name, creation_timestamp=started, labels=labels or {}), spec=spec
    )
    backup.status.start_timestamp = started
    backup.status.expiration = started + parse_duration(spec.ttl)
    backup.status.phase = Phase.in_progress
    report.phase(Phase.in_progress, Step.discovering)

    with ThreadPoolExecutor(max_workers=4) as pool:  # independent reads: one round trip
        asked_ns = pool.submit(kube.get, "/api/v1/namespaces")
        asked_version = pool.submit(discovery.server_version, kube)
        asked_id = pool.submit(discovery.cluster_id, kube)
        asked_crds = pool.submit(kube.get, CRDS)
        found = discovery.discover(kube)
        namespaces = {n["metadata"]["name"]: n for n in asked_ns.result()["items"]}
        cluster = ClusterInfo(
            version=asked_version.result(), id=asked_id.result(), server=kube.host
        )
        crd_names = {crd["metadata"]["name"] for crd in asked_crds.result().get("items", [])}
    resources, skips = backupable(found.resources)
    unknown = res_filter.unknown(found.resources)
    if unknown:
        raise UserInputError(
            f"unknown resource(s): {', '.join(unknown)} (no such API resource in the cluster)"
        )
    missing = ns_filter.missing(set(namespaces))
    if missing:
        raise UserInputError(f"namespace(s) not found in the cluster: {', '.join(missing)}")
    selected_ns = sorted(n for n in namespaces if ns_filter.matches(n))
    backup.status.cluster = cluster
    backup.status.skipped_resources = [
        SkippedResource(resource=s.resource, reason=s.reason) for s in skips
    ]
    backup.status.skipped_resources += [
        SkippedResource(resource=gv, reason=f"discovery failed: {why}")
        for gv, why in found.failed_groups.items()
    ]
    by_gr = {r.group_resource: r for r in resources}
    chosen = [r for r in resources if r.namespaced and res_filter.matches(r)]
    literal = ns_filter.literal_names
    jobs = list_jobs(chosen, literal if literal is not None else None) if selected_ns else []

    with staging.workspace("backup", name) as tmp:
        work = Path(tmp)
        log = OperationLog(work / "backup.log")
        header = {
            "backup": name,
            "cluster": backup.status.cluster.to_json_dict(),
            "created": str(started),
        }
        writer = ArchiveWriter(
            work / f"resources.{spec.compression}",
            work / "index.jsonl",
            compression=spec.compression,
            header=header,
        )
        run = _Run(backup=backup, writer=writer, log=log, report=report, cancel=cancel)
        run.needs = Needs(crd_names)
        try:
            report.phase(Phase.in_progress, Step.listing)
            _collect(
                kube,
                run,
                jobs,
                selector,
                ns_filter,
                selected_ns,
                namespaces,
                by_gr,
                res_filter,
            )
            check(cancel)
            writer.close()
            taken = (  # backupd.snapshots.backup.take_all, handed over by the driver
                volumes(
                    kube,
                    backup,
                    run.claims,
                    warn=lambda ns, message: run.issue("warning", None, message, ns),
                    info=log.info,
                    cancel=cancel,
                )
                if volumes
                else None
            )
            report.phase(Phase.in_progress, Step.uploading)
            _upload(location, keys, run, work)
            if taken:
                store_volume_snapshots(location, backup, taken)
            check(cancel)  # the data is stored, but a cancelled backup is never Completed
        except BackupdError as e:
            writer.abort()
            backup.status.phase = Phase.failed
            backup.status.failure_reason = str(e)
            log.error(f"backup failed: {e}")
            report.error(f"backup failed: {e}")
            _finish(backup, run)
            _commit_failed(location, keys, backup, log)
            report.phase(backup.status.phase, Step.done)
            return backup
        _finish(backup, run)
        failed = backup.status.errors or (taken and taken.failures)
        backup.status.phase = Phase.partially_failed if failed else Phase.completed
        log.info(
            f"backup {backup.status.phase}: {run.done} items, {len(backup.status.errors)} errors"
        )
        report.phase(Phase.in_progress, Step.committing)
        backup.status.log = _put_file(location, keys.log, log.gzipped())
        location.put_bytes(keys.metadata, sealing.record_bytes(backup, location.keyring))
    report.phase(backup.status.phase, Step.done)
    return backup


def _collect(
    kube: KubeClient,
    run: _Run,
    jobs: list[ListJob],
    selector: str,
    ns_filter: NamespaceFilter,
    selected_ns: list[str],
    namespaces: dict[str, JSON],
    by_gr: dict[str, ApiResource],
    res_filter: ResourceFilter,
) -> None:
    spec = run.backup.spec
    for pattern in ns_filter.empty_globs(set(namespaces)):
        run.issue("warning", None, f"namespace pattern {pattern!r} matches no namespace")
    run.log.info(f"backing up {len(selected_ns)} namespace(s) with {len(jobs)} paged LISTs")
    for job in jobs:
        run.listings.plan(job.resource.api_version, job.resource.resource, _where(job))
    check(run.cancel)
    wanted: dict[str, bool] = {}
    for job, page, known in prefetch(kube, jobs, selector):
        run.total += known
        if isinstance(page, BackupdError):
            if not isinstance(page, ClusterError) or page.status == 0 or _fatal(page):
                raise page
            run.issue("error", job.resource, f"cannot list: {page}", job.namespace)
            continue
        done = run.done
        for item in page:
            namespace = item.get("metadata", {}).get("namespace", "")
            taken = wanted.get(namespace)
            if taken is None:  # the filter's patterns, once per namespace
                taken = wanted[namespace] = ns_filter.matches(namespace)
            if taken:
                run.add(job.resource, item)
        run.listings.count(
            job.resource.api_version, job.resource.resource, _where(job), len(page), run.done - done
        )
    for line in run.listings.lines():
        run.log.info(line)
    ns_res = by_gr["namespaces"]
    done = run.done
    for ns in selected_ns:
        run.add(ns_res, dict(namespaces[ns]))
    run.listings.count(ns_res.api_version, "namespaces", "", len(namespaces), run.done - done)
    mode = spec.include_cluster_resources
    if mode is ClusterResources.true:
        for res in (r for r in by_gr.values() if not r.namespaced and r.resource != "namespaces"):
            if not res_filter.matches(res):
                continue
            try:
                for items, _ in list_pages(kube, res, label_selector=selector):
                    done = run.done
                    for item in items:
                        run.add(res, item)
                    run.listings.count(
                        res.api_version, res.resource, "", len(items), run.done - done
                    )
            except ClusterError as e:
                if _fatal(e):
                    raise
                run.issue("error", res, f"cannot list: {e}")
    elif mode is ClusterResources.auto:
        take_granting(kube, run, by_gr, res_filter)  # bindings that point to taken accounts
        _fetch_dependencies(kube, run, by_gr, res_filter)
    for line in run.listings.lines():  # namespaces, and cluster-scoped types
        run.log.info(line)


def _where(job: ListJob) -> str:
    return job.namespace or ("all namespaces" if job.resource.namespaced else "")


def _fatal(e: ClusterError) -> bool:
    """A refused credential (already refreshed once) fails every other request alike."""
    return isinstance(e, ClusterUnauthorized)


def _finish(backup: Backup, run: _Run) -> None:
    for line in run.listings.lines():  # what was listed before a failure, or cluster-wide
        run.log.info(line)
    backup.status.completion_timestamp = now()
    backup.status.progress.total_items = run.done
    backup.status.progress.items_backed_up = run.done
    backup.status.resource_counts = dict(sorted(run.resource_counts.items()))
    backup.status.namespace_counts = dict(sorted(run.namespace_counts.items()))


def _put_file(location: Location, key: str, path: Path) -> StoredObject:
    with path.open("rb") as f:
        result = location.put(key, f)
    return StoredObject(key=key, size=result.size, sha256=result.sha256)


def _upload(location: Location, keys: BackupKeys, run: _Run, work: Path) -> None:
    spec = run.backup.spec
    index_gz = work / "index.jsonl.gz"
    gzip_file(run.writer.index_path, index_gz)
    run.log.info(f"uploading archive ({run.writer.path.stat().st_size} bytes) to {location.url}")
    name = run.backup.metadata.name
    envelope = sealing.new_envelope(location.keyring, name)  # None: not encrypted
    run.backup.status.encryption = sealing.encryption_of(envelope)
    run.backup.status.archive = sealing.put_file(
        location,
        keys.archive(spec.compression),
        run.writer.path,
        envelope=envelope,
        backup=name,
        role="archive",
        cancel=run.cancel,
    )
    run.backup.status.index = sealing.put_file(
        location, keys.index, index_gz, envelope=envelope, backup=name, role="index"
    )


def _commit_failed(location: Location, keys: BackupKeys, backup: Backup, log: OperationLog) -> None:
    """Record a Failed backup if storage still answers; the data objects may be partial."""
    try:
        backup.status.log = _put_file(location, keys.log, log.gzipped())
        location.put_bytes(keys.metadata, sealing.record_bytes(backup, location.keyring))
    except BackupdError:
        pass
