"""Apply a plan to the target cluster: tier by tier, items of a tier in parallel. I/O.

Per item: create it; if it exists, compare the live object with the backup's
(normalised, see diffing) and leave it alone (unchanged, or differs with a warning),
or patch it under --existing-resource-policy=update. In a dry run nothing is
written: missing items are validated with a server-side dry-run create (dryRun=All)
and updates are dry-run patches.
"""

from __future__ import annotations

import contextlib
import copy
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from backupd.api.restore import ExistingResourcePolicy, ItemResult, Outcome, RestoreSpec
from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.errors import (
    BackupdError,
    ClusterConflict,
    ClusterError,
    ClusterNotFound,
    ClusterUnreachable,
)
from backupd.restore.diffing import compare
from backupd.restore.normalize import normalize
from backupd.restore.ordering import CRD_TIER
from backupd.restore.planner import Plan, PlannedItem
from backupd.restore.targets import Targets, crd_kind

MERGE_PATCH = "application/merge-patch+json"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
DEFAULT_WORKERS = 16
VALIDATION_NAMESPACE = "default"
_REQUEST_PREFIX = re.compile(r"^[A-Z]+ /\S*: ")


def result(
    item: PlannedItem,
    outcome: Outcome,
    reason: str | None = None,
    diff: str | None = None,
    warnings: list[str] | None = None,
) -> ItemResult:
    ref = item.ref
    return ItemResult(
        group=ref.group,
        version=ref.version,
        kind=ref.kind,
        resource=ref.resource,
        namespace=ref.namespace,
        name=ref.name,
        outcome=outcome,
        source_namespace=item.source.namespace if item.source.namespace != ref.namespace else None,
        reason=reason,
        diff=diff or None,
        warnings=warnings or [],
    )


def _error_text(e: BackupdError) -> str:
    text = _REQUEST_PREFIX.sub("", str(e))  # the item is named already
    if isinstance(e, ClusterError) and e.causes:
        extra = "; ".join(c for c in e.causes if c and c not in text)
        if extra:
            text = f"{text} ({extra})"
    return text


def _missing_namespace(e: ClusterNotFound) -> bool:
    return "namespaces" in str(e) and "not found" in str(e)


@dataclass
class Applier:
    kube: KubeClient
    targets: Targets
    spec: RestoreSpec
    workers: int = DEFAULT_WORKERS
    # (group, kind) that restored CRDs define: in a dry run they are not served yet
    pending_kinds: set[tuple[str, str]] = field(default_factory=set)
    # CRDs that did not become Established: {(group, kind): problem}
    crd_problems: dict[tuple[str, str], str] = field(default_factory=dict)
    _unreachable: threading.Event = field(default_factory=threading.Event)

    def _write(self, method: str, path: str, body: JSON, *, dry_run: bool = False) -> list[str]:
        """POST or (merge) PATCH; a dry run (or `dry_run`) only validates (dryRun=All).

        Returns the API server's warnings, such as an unknown field it dropped: the
        restored object then lacks something the backup has. The reply itself is not
        needed: asking for its metadata only saves encoding and decoding.
        """
        warnings: list[str] = []
        self.kube.request(
            method,
            path,
            body=body,
            params={"dryRun": "All"} if dry_run or self.spec.dry_run else None,
            content_type=MERGE_PATCH if method == "PATCH" else "application/json",
            accept=METADATA_ONLY,
            warnings=warnings,
        )
        return warnings

    # -- one item ----------------------------------------------------------------
    def apply_item(self, item: PlannedItem) -> ItemResult:
        if item.obj is None:
            return result(item, Outcome.skipped, item.skip_reason)
        if self._unreachable.is_set():
            return result(item, Outcome.failed, "not attempted: the API server stopped answering")
        ref = item.ref
        api = self.targets.resolve(ref.group, ref.version, ref.kind)
        if api is None:
            if self.spec.dry_run and (ref.group, ref.kind) in self.pending_kinds:
                return result(
                    item, Outcome.created, "not validated: its CRD is created by this restore"
                )
            problem = self.crd_problems.get((ref.group, ref.kind))
            if problem is not None:
                return result(item, Outcome.failed, f"its CRD is not ready: {problem}")
            api_version = f"{ref.group}/{ref.version}" if ref.group else ref.version
            return result(
                item, Outcome.failed, f"the target cluster does not serve {api_version} {ref.kind}"
            )
        try:
            return self._apply(item, api, item.obj)
        except ClusterUnreachable as e:
            self._unreachable.set()  # the rest would each wait through its retries
            return result(item, Outcome.failed, _error_text(e))
        except BackupdError as e:
            return result(item, Outcome.failed, _error_text(e))

    def _apply(self, item: PlannedItem, api: ApiResource, obj: JSON) -> ItemResult:
        ref = item.ref
        notes = "; ".join(item.notes) or None
        if self.spec.dry_run:
            try:
                live = self.kube.get(api.path(ref.namespace, ref.name))
            except ClusterNotFound:
                return self._validate(item, api, obj, notes)
            return self._existing(item, api, obj, live)
        try:
            warnings = self._write("POST", api.path(ref.namespace), obj)
        except ClusterConflict as e:
            if e.reason != "AlreadyExists":
                raise
            live = self.kube.get(api.path(ref.namespace, ref.name))
            return self._existing(item, api, obj, live)
        return result(item, Outcome.created, notes, warnings=warnings)

    def _validate(
        self, item: PlannedItem, api: ApiResource, obj: JSON, notes: str | None
    ) -> ItemResult:
        """A server-side dry-run create; a namespace this restore makes is stood in for."""
        ns = item.ref.namespace
        try:
            warnings = self._write("POST", api.path(ns), obj, dry_run=True)
            return result(item, Outcome.created, notes, warnings=warnings)
        except ClusterNotFound as e:
            if not (ns and _missing_namespace(e)):
                raise
        stand_in = copy.deepcopy(obj)
        stand_in["metadata"]["namespace"] = VALIDATION_NAMESPACE
        warned: list[str] = []
        # a conflict means validation passed and only the name is taken there
        with contextlib.suppress(ClusterConflict):
            warned = self._write("POST", api.path(VALIDATION_NAMESPACE), stand_in, dry_run=True)
        note = f"validated in namespace {VALIDATION_NAMESPACE}: {ns} does not exist yet"
        return result(item, Outcome.created, f"{notes}; {note}" if notes else note, warnings=warned)

    def _existing(self, item: PlannedItem, api: ApiResource, obj: JSON, live: JSON) -> ItemResult:
        ref = item.ref
        if (
            ref.kind == "Namespace"
            and not ref.group
            and (live.get("metadata") or {}).get("deletionTimestamp")
        ):
            return result(
                item,
                Outcome.failed,
                f"namespace {ref.name} is being deleted; wait until it is gone, then restore again",
            )
        if ref.kind == "PersistentVolume" and not ref.group:
            reclaimed = self._reclaim(item, api, obj, live)
            if reclaimed is not None:
                return reclaimed
        comparison = compare(normalize(live), normalize(obj), ref.where())
        if comparison.identical:
            return result(item, Outcome.unchanged)
        if self.spec.existing_resource_policy is ExistingResourcePolicy.update:
            warnings = self._write("PATCH", api.path(ref.namespace, ref.name), comparison.patch)
            how = "would be patched" if self.spec.dry_run else "patched"
            return result(
                item, Outcome.updated, f"{how} to the backup's version", comparison.diff, warnings
            )
        return result(
            item,
            Outcome.differs,
            "exists and differs from the backup; left alone "
            "(--existing-resource-policy update overwrites it)",
            comparison.diff,
        )

    def _reclaim(
        self, item: PlannedItem, api: ApiResource, obj: JSON, live: JSON
    ) -> ItemResult | None:
        """A Released volume whose claim is being restored: let it bind to the new claim.

        When a namespace is deleted, a Retain volume stays, Released, its claimRef
        holding the deleted claim's uid; the restored claim (a new uid) could never bind.
        """
        claim = (live.get("spec") or {}).get("claimRef") or {}
        wanted = (obj.get("spec") or {}).get("claimRef") or {}
        if (live.get("status") or {}).get("phase") != "Released" or not claim.get("uid"):
            return None
        if (claim.get("namespace"), claim.get("name")) != (
            wanted.get("namespace"),
            wanted.get("name"),
        ):
            return None
        release = {"spec": {"claimRef": {"uid": None, "resourceVersion": None}}}
        self._write("PATCH", api.path(None, item.ref.name), release)
        return result(
            item, Outcome.updated, "a Released volume, made available to its restored claim"
        )

    # -- the whole plan ----------------------------------------------------------
    def apply(
        self, plan: Plan, on_result: Callable[[ItemResult], None] | None = None
    ) -> list[ItemResult]:
        """Apply tier by tier: a tier's items in parallel, the next tier after it."""
        self.pending_kinds = {
            crd_kind(i.obj) for i in plan.to_apply if i.tier == CRD_TIER and i.obj is not None
        }
        results: list[ItemResult] = []

        def done(r: ItemResult) -> None:
            results.append(r)
            if on_result is not None:
                on_result(r)

        with _Workers(self.apply_item, done, self.workers) as workers:
            for tier, items in plan.tiers():
                workers.run(items)
                if tier == CRD_TIER and not self.spec.dry_run:
                    self._crds_ready(items)
        return results

    def _crds_ready(self, items: list[PlannedItem]) -> None:
        crds = {i.ref.name: crd_kind(i.obj) for i in items if i.obj is not None}
        problems = self.targets.wait_established(crds)
        self.crd_problems = {crds[name]: problem for name, problem in problems.items()}
        self.targets.wait_served(kind for name, kind in crds.items() if name not in problems)


class _Workers:
    """Threads that apply items and report each result under one lock.

    Started once for the whole restore; `run` hands them a tier and returns when every
    item of it is reported. No future per item: at thousands of items, futures and
    their wake-ups cost more CPU than the requests.
    """

    def __init__(
        self,
        apply: Callable[[PlannedItem], ItemResult],
        done: Callable[[ItemResult], None],
        workers: int,
    ) -> None:
        self._apply = apply
        self._done = done
        self._queue: queue.SimpleQueue[PlannedItem | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._tier_done = threading.Event()
        self._remaining = 0
        self._failures: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._work, name=f"restore-{n}", daemon=True)
            for n in range(max(1, workers))
        ]

    def __enter__(self) -> _Workers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                r: ItemResult | None = self._apply(item)
            except BaseException as e:  # a bug: re-raised by run(), not lost with the thread
                r = None
                self._failures.append(e)
            with self._lock:
                try:
                    if r is not None:
                        self._done(r)
                except BaseException as e:  # the caller's callback: the same
                    self._failures.append(e)
                finally:
                    self._remaining -= 1
                    if self._remaining == 0:
                        self._tier_done.set()

    def run(self, items: list[PlannedItem]) -> None:
        if not items:
            return
        self._tier_done.clear()
        self._remaining = len(items)
        for item in items:
            self._queue.put(item)
        self._tier_done.wait()
        if self._failures:
            raise self._failures[0]
