"""An item whose object exists already in the target: compare it with the backup's
version, then leave it alone, replace it, or say why not. I/O.

The comparison asks the server what the backup's version would be in the live
object's place: a server-side dry-run replace (PUT, dryRun=All) of the backup's
object carrying the live resourceVersion and what the server owns (see
serverfields). The reply is the object as the server would store it, with its
defaults, admission and update rules applied, so it compares like with like with
the live object (see diffing): a field added to the live object since the backup
shows as a difference. The item is then unchanged, or differs (left alone, with a
diff), or under --existing-resource-policy=update replaced by that same body (a
PUT), so the live object becomes the backup's version; a replace refused because
the object changed meanwhile (409 Conflict) is tried again from a fresh GET, at most
REPLACE_ATTEMPTS times. A replace whose reply timed out is not sent again: the
object is read and compared again. A kind the server will not replace (no update
verb, or the dry run refused) is compared on the backup's fields only.

Why a dry-run replace: a dry-run create of an existing name is refused (409), and a
dry-run server-side apply merges with the fields other managers own, so a field
added by `kubectl set env` would stay; only a replace says what the object would be
if it were exactly the backup's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backupd.api.restore import ExistingResourcePolicy, ItemResult, Outcome, RestoreSpec
from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.errors import ClusterConflict, ClusterForbidden, ClusterInvalid, ClusterTimeout
from backupd.restore.diffing import Comparison, compare, compare_fields
from backupd.restore.normalize import normalize
from backupd.restore.planner import PlannedItem
from backupd.restore.results import error_text, result, with_note
from backupd.restore.serverfields import replacement

DRY_RUN = {"dryRun": "All"}
REPLACE_ATTEMPTS = 3
LEFT_ALONE = (
    "exists and differs from the backup; left alone "
    "(--existing-resource-policy update overwrites it)"
)

# POST, PUT or merge PATCH of (method, path, body), dry run when the restore is one;
# returns the API server's warnings (the applier's write)
Write = Callable[[str, str, JSON], list[str]]


@dataclass(frozen=True)
class Existing:
    """The decisions for objects that exist already, for one restore's spec."""

    kube: KubeClient
    spec: RestoreSpec
    write: Write

    def outcome(self, item: PlannedItem, api: ApiResource, obj: JSON, live: JSON) -> ItemResult:
        found = self._outcome(item, api, obj, live)
        if item.reason and found.outcome in (Outcome.unchanged, Outcome.differs):
            return with_note(found, item.reason)  # why a dependency was looked at at all
        return found

    def _outcome(self, item: PlannedItem, api: ApiResource, obj: JSON, live: JSON) -> ItemResult:
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
                        f"it changed while being replaced, {attempt} times: {error_text(e)}",
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
            return self._by_fields(item, obj, live, error_text(e))
        comparison = compare(normalize(live), normalize(stored), ref.where())
        if comparison.identical:
            return result(item, Outcome.unchanged, warnings=warnings)
        if self.spec.existing_resource_policy is not ExistingResourcePolicy.update:
            return result(item, Outcome.differs, LEFT_ALONE, comparison.diff, warnings)
        if self.spec.dry_run:
            how = "would be replaced by the backup's version"
        else:
            try:
                warnings = self.write("PUT", path, body)
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
        self.write("PATCH", api.path(None, item.ref.name), release)
        return result(
            item, Outcome.updated, "a Released volume, made available to its restored claim"
        )
