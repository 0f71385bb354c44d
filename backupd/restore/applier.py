"""Apply a plan to the target cluster: tier by tier, items of a tier in parallel. I/O.

Per item: create it (POST). If it exists already, ask the server what the backup's
version would be in its place: a server-side dry-run replace (PUT, dryRun=All) of the
backup's object carrying the live resourceVersion and what the server owns (see
serverfields). The reply is the object as the server would store it, with its
defaults, admission and update rules applied, so it compares like with like with the
live object (see diffing): a field added to the live object since the backup shows
as a difference. The item is then unchanged, or differs (left alone, with a diff), or
under --existing-resource-policy=update replaced by that same body (a PUT), so the
live object becomes the backup's version; a replace refused because the object
changed meanwhile (409 Conflict) is tried again from a fresh GET, a bounded number of
times. This costs one request per existing object (the dry run); missing objects
are created with no extra request.

Why a dry-run replace: a dry-run create of an existing name is refused (409), and a
dry-run server-side apply merges with the fields other managers own, so a field
added by `kubectl set env` would stay; only a replace says what the object would be
if it were exactly the backup's.

A create whose reply timed out (ClusterTimeout with `sent`) is not sent again: the
object is read back and the outcome says what is known. In a dry run nothing is
written: missing items are validated with a dry-run create. Every decision is made
from error classes and the Status reason, never from an error's text.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from backupd.api.progress import NEVER, Cancel
from backupd.api.restore import ExistingResourcePolicy, ItemResult, Outcome, RestoreSpec
from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.errors import (
    BackupdError,
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterInvalid,
    ClusterNotFound,
    ClusterTimeout,
    ClusterUnauthorized,
    ClusterUnreachable,
)
from backupd.restore.diffing import Comparison, compare, compare_fields
from backupd.restore.normalize import normalize
from backupd.restore.ordering import CRD_TIER
from backupd.restore.planner import Plan, PlannedItem
from backupd.restore.serverfields import replacement
from backupd.restore.targets import Targets, crd_kind
from backupd.restore.workers import Workers

MERGE_PATCH = "application/merge-patch+json"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
DRY_RUN = {"dryRun": "All"}
DEFAULT_WORKERS = 16
REPLACE_ATTEMPTS = 3
VALIDATION_NAMESPACE = "default"
LEFT_ALONE = (
    "exists and differs from the backup; left alone "
    "(--existing-resource-policy update overwrites it)"
)
NOT_ATTEMPTED = "not attempted: the restore was cancelled"
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


def _missing_namespace(e: ClusterNotFound, namespace: str) -> bool:
    """The Status says the namespace is missing (not the object: a create has none yet)."""
    details = e.details or {}
    return details.get("kind") == "namespaces" and details.get("name") == namespace


def _with_note(r: ItemResult, note: str) -> ItemResult:
    return r.model_copy(update={"reason": f"{note}: {r.reason}" if r.reason else note})


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
            return result(item, Outcome.failed, _error_text(e))
        except ClusterUnauthorized as e:
            self._refused.set()  # refreshed once already: every other item would fail alike
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
                f"{timed_out}; whether the object was created is unknown: {_error_text(e)}",
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
        return _with_note(found, f"{timed_out}; an object was found afterwards")

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
        found = self._existing_outcome(item, api, obj, live)
        if item.reason and found.outcome in (Outcome.unchanged, Outcome.differs):
            return _with_note(found, item.reason)  # why a dependency was looked at at all
        return found

    def _existing_outcome(
        self, item: PlannedItem, api: ApiResource, obj: JSON, live: JSON
    ) -> ItemResult:
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
        if not item.in_backup:
            return result(item, Outcome.unchanged, "exists; not in the backup, so left as it is")
        if ref.kind == "PersistentVolume" and not ref.group:
            reclaimed = self._reclaim(item, api, obj, live)
            if reclaimed is not None:
                return reclaimed
        path = api.path(ref.namespace, ref.name)
        for attempt in range(1, REPLACE_ATTEMPTS + 1):
            try:
                return self._compare(item, api, obj, live)
            except ClusterConflict as e:
                if e.reason != "Conflict":
                    raise
                if attempt == REPLACE_ATTEMPTS:
                    return result(
                        item,
                        Outcome.failed,
                        f"it changed while being replaced, {attempt} times: {_error_text(e)}",
                    )
            live = self.kube.get(path)  # changed meanwhile: compare with what it is now
        raise AssertionError("unreachable")  # pragma: no cover

    def _compare(self, item: PlannedItem, api: ApiResource, obj: JSON, live: JSON) -> ItemResult:
        """Compare with the server's rendering of the backup's version; replace if asked."""
        ref = item.ref
        path = api.path(ref.namespace, ref.name)
        if api.verbs and "update" not in api.verbs:
            return self._by_fields(item, obj, live, f"{api.group_resource} cannot be updated")
        body = replacement(obj, live, preserve_nodeports=self.spec.preserve_nodeports)
        warnings: list[str] = []
        try:
            stored = self.kube.request("PUT", path, body=body, params=DRY_RUN, warnings=warnings)
        except (ClusterInvalid, ClusterForbidden) as e:
            return self._by_fields(item, obj, live, _error_text(e))
        comparison = compare(normalize(live), normalize(stored), ref.where())
        if comparison.identical:
            return result(item, Outcome.unchanged, warnings=warnings)
        if self.spec.existing_resource_policy is not ExistingResourcePolicy.update:
            return result(item, Outcome.differs, LEFT_ALONE, comparison.diff, warnings)
        if self.spec.dry_run:
            how = "would be replaced by the backup's version"
        else:
            try:
                warnings = self._write("PUT", path, body)
            except ClusterTimeout as e:
                if not e.sent:
                    raise
                return self._replace_timed_out(item, api, obj, comparison)
            how = "replaced by the backup's version"
        return result(item, Outcome.updated, how, comparison.diff, warnings)

    def _replace_timed_out(
        self, item: PlannedItem, api: ApiResource, obj: JSON, before: Comparison
    ) -> ItemResult:
        """The replace was sent and no reply came: look again instead of re-sending."""
        path = api.path(item.ref.namespace, item.ref.name)
        live = self.kube.get(path)
        body = replacement(obj, live, preserve_nodeports=self.spec.preserve_nodeports)
        stored = self.kube.request("PUT", path, body=body, params=DRY_RUN)
        if compare(normalize(live), normalize(stored)).identical:
            how = "the replace timed out; the object was found afterwards as the backup's version"
            return result(item, Outcome.updated, how, before.diff)
        return result(
            item,
            Outcome.failed,
            "the replace timed out and the object found afterwards still differs from the backup",
            before.diff,
        )

    def _by_fields(self, item: PlannedItem, obj: JSON, live: JSON, refusal: str) -> ItemResult:
        """The fallback when the server will not render the backup's version in place."""
        comparison = compare_fields(normalize(live), normalize(obj), item.ref.where())
        why = f"compared on the backup's fields only, as it cannot be replaced ({refusal})"
        if comparison.identical:
            return result(item, Outcome.unchanged, why)
        if self.spec.existing_resource_policy is ExistingResourcePolicy.update:
            return result(
                item,
                Outcome.failed,
                f"differs from the backup and cannot be replaced: {refusal}",
                comparison.diff,
            )
        return result(item, Outcome.differs, f"{LEFT_ALONE}; {why}", comparison.diff)

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
