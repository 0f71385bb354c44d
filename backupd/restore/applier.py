"""Apply a plan to the target cluster: tier by tier, items of a tier in parallel. I/O.

Per item: create it (POST). If it exists already, backupd/restore/existing.py decides:
it asks the server what the backup's version would be in its place (a server-side
dry-run replace), and the item is then unchanged, or differs (left alone, with a
diff), or under --existing-resource-policy=update replaced by the backup's version,
tried again from a fresh GET when it changed meanwhile (409 Conflict). This costs one
request per existing object (the dry run); missing objects are created with no extra
request.

A create whose reply timed out (ClusterTimeout with `sent`) is not sent again: the
object is read back and the outcome says what is known. In a dry run nothing is
written: missing items are validated with a dry-run create. Every decision is made
from error classes and the Status reason, never from an error's text.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from backupd.api.progress import NEVER, Cancel
from backupd.api.restore import ItemResult, Outcome, RestoreSpec
from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.errors import (
    BackupdError,
    ClusterConflict,
    ClusterError,
    ClusterNotFound,
    ClusterTimeout,
    ClusterUnauthorized,
    ClusterUnreachable,
)
from backupd.restore import DEFAULT_WORKERS
from backupd.restore.existing import DRY_RUN, Existing
from backupd.restore.existing import REPLACE_ATTEMPTS as REPLACE_ATTEMPTS  # tests name it here
from backupd.restore.ordering import CRD_TIER
from backupd.restore.planner import Plan, PlannedItem
from backupd.restore.results import error_text, result, with_note
from backupd.restore.targets import Targets, crd_kind
from backupd.restore.workers import Workers

MERGE_PATCH = "application/merge-patch+json"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
VALIDATION_NAMESPACE = "default"
NOT_ATTEMPTED = "not attempted: the restore was cancelled"


def _missing_namespace(e: ClusterNotFound, namespace: str) -> bool:
    """The Status says the namespace is missing (not the object: a create has none yet)."""
    details = e.details or {}
    return details.get("kind") == "namespaces" and details.get("name") == namespace


@dataclass
class Applier:
    kube: KubeClient
    targets: Targets
    spec: RestoreSpec
    workers: int = DEFAULT_WORKERS
    cancel: Cancel = NEVER  # once set, the items not yet started are reported NOT_ATTEMPTED
    # (group, kind) that restored CRDs define: in a dry run they are not served yet
    pending_kinds: set[tuple[str, str]] = field(default_factory=set)
    # CRDs that did not become Established: {(group, kind): problem}
    crd_problems: dict[tuple[str, str], str] = field(default_factory=dict)
    _unreachable: threading.Event = field(default_factory=threading.Event)
    _refused: threading.Event = field(default_factory=threading.Event)

    def _write(self, method: str, path: str, body: JSON, *, dry_run: bool = False) -> list[str]:
        """POST, PUT or (merge) PATCH; a dry run (or `dry_run`) only validates (dryRun=All).

        Returns the API server's warnings, such as an unknown field it dropped: the
        restored object then lacks something the backup has. The reply itself is not
        needed: asking for its metadata only saves encoding and decoding.
        """
        warnings: list[str] = []
        self.kube.request(
            method,
            path,
            body=body,
            params=DRY_RUN if dry_run or self.spec.dry_run else None,
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
        if self._refused.is_set():
            return result(
                item, Outcome.failed, "not attempted: the API server refused the credential"
            )
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
            return result(item, Outcome.failed, error_text(e))
        except ClusterUnauthorized as e:
            self._refused.set()  # refreshed once already: every other item would fail alike
            return result(item, Outcome.failed, error_text(e))
        except BackupdError as e:
            return result(item, Outcome.failed, error_text(e))

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
        except ClusterTimeout as e:
            if not e.sent:
                raise
            return self._create_timed_out(item, api, obj, notes)
        except ClusterConflict as e:
            if e.reason != "AlreadyExists":
                raise
            live = self.kube.get(api.path(ref.namespace, ref.name))
            return self._existing(item, api, obj, live)
        return result(item, Outcome.created, notes, warnings=warnings)

    def _create_timed_out(
        self, item: PlannedItem, api: ApiResource, obj: JSON, notes: str | None
    ) -> ItemResult:
        """The create was sent and no reply came: read the object back, never re-send."""
        timed_out = "the create timed out"
        try:
            live = self.kube.get(api.path(item.ref.namespace, item.ref.name))
        except ClusterNotFound:
            return result(item, Outcome.failed, f"{timed_out} and the object does not exist")
        except ClusterError as e:
            if isinstance(e, ClusterUnreachable):
                self._unreachable.set()
            return result(
                item,
                Outcome.failed,
                f"{timed_out}; whether the object was created is unknown: {error_text(e)}",
            )
        found = self._existing(item, api, obj, live)
        if found.outcome is Outcome.unchanged:
            note = f"{timed_out}; the object was found afterwards and matches the backup"
            return found.model_copy(
                update={
                    "outcome": Outcome.created,
                    "reason": f"{notes}; {note}" if notes else note,
                }
            )
        return with_note(found, f"{timed_out}; an object was found afterwards")

    def _validate(
        self, item: PlannedItem, api: ApiResource, obj: JSON, notes: str | None
    ) -> ItemResult:
        """A server-side dry-run create; a namespace this restore makes is stood in for."""
        ns = item.ref.namespace
        try:
            warnings = self._write("POST", api.path(ns), obj, dry_run=True)
            return result(item, Outcome.created, notes, warnings=warnings)
        except ClusterNotFound as e:
            if not (ns and _missing_namespace(e, ns)):
                raise
        stand_in = copy.deepcopy(obj)
        stand_in["metadata"]["namespace"] = VALIDATION_NAMESPACE
        warned: list[str] = []
        try:
            warned = self._write("POST", api.path(VALIDATION_NAMESPACE), stand_in, dry_run=True)
        except ClusterConflict as e:
            if e.reason != "AlreadyExists":  # then validation passed; only the name is taken
                raise
        note = f"validated in namespace {VALIDATION_NAMESPACE}: {ns} does not exist yet"
        return result(item, Outcome.created, f"{notes}; {note}" if notes else note, warnings=warned)

    # -- an object that exists -------------------------------------------------------
    def _existing(self, item: PlannedItem, api: ApiResource, obj: JSON, live: JSON) -> ItemResult:
        """Compare, then leave or replace (backupd/restore/existing.py)."""
        return Existing(self.kube, self.spec, self._write).outcome(item, api, obj, live)

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

        with Workers(self._unless_cancelled, done, self.workers) as workers:
            for tier, items in plan.tiers():
                workers.run(items)
                if tier == CRD_TIER and not self.spec.dry_run and not self.cancel.is_set():
                    self._crds_ready(items)
        return results

    def _unless_cancelled(self, item: PlannedItem) -> ItemResult:
        if self.cancel.is_set():
            return result(item, Outcome.skipped, NOT_ATTEMPTED)
        return self.apply_item(item)

    def _crds_ready(self, items: list[PlannedItem]) -> None:
        crds = {i.ref.name: crd_kind(i.obj) for i in items if i.obj is not None}
        problems = self.targets.wait_established(crds)
        self.crd_problems = {crds[name]: problem for name, problem in problems.items()}
        self.targets.wait_served(kind for name, kind in crds.items() if name not in problems)
