"""Catalog sync: the cluster's Backup resources follow what the locations hold.

A backup committed in a location with no resource here is imported (a new cluster
pointed at an old bucket sees every backup): a Backup resource with the stored spec,
labels and status, annotated backupd.io/imported-from so it is never run again.
A finished backup (Completed, PartiallyFailed) whose metadata object is gone from its
location is deleted from the cluster, unless the garbage collector is still deleting
it (backupd.io/deletion-pending). A location that does not answer changes nothing.
Deleting only a Backup resource deletes nothing stored: the next pass imports it
again (as Velero's sync does); `backupctl backup delete` or the TTL deletes a backup.
"""

from __future__ import annotations

import logging

from backupd.api.backup import LOCATION_LABEL, Backup
from backupd.cluster.client import JSON
from backupd.controller.context import Context
from backupd.controller.locations import Resolved
from backupd.controller.resources import (
    DELETION_PENDING,
    IMPORTED,
    annotations_of,
    labels_of,
    phase_of,
)
from backupd.errors import BackupdError, ClusterConflict
from backupd.storage import records
from backupd.storage.catalog import committed_names

FINISHED = frozenset({"Completed", "PartiallyFailed"})
log = logging.getLogger(__name__)


class CatalogSync:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def run_once(self) -> tuple[list[str], list[str]]:
        """One pass over every location; returns (imported, removed) backup names."""
        imported: list[str] = []
        removed: list[str] = []
        for r in self.ctx.locations.all():
            if self.ctx.stopping.is_set() or not self.ctx.locations.check(r):
                continue
            try:
                i, d = self._location(r)
            except BackupdError as e:
                log.warning("catalog sync of %s: %s", r.name, e)
                continue
            imported += i
            removed += d
        return imported, removed

    def _location(self, r: Resolved) -> tuple[list[str], list[str]]:
        listing = records.list_backups(r.location)
        for s in listing.skipped:
            log.warning("catalog sync of %s: %s", r.name, s)
        # what is stored: committed records (a damaged one is not gone) and what the
        # listing found (Velero's backups, in a location of format Velero)
        present = set(committed_names(r.location)) | {b.metadata.name for b in listing.records}
        existing = {o["metadata"]["name"]: o for o in self.ctx.res.list("backups")}
        imported = [
            b.metadata.name
            for b in listing.records
            if b.metadata.name not in existing and self._import(r, b)
        ]
        removed = [
            name
            for name, obj in existing.items()
            if name not in present and self._gone(r, obj) and self.ctx.res.delete("backups", name)
        ]
        for name in removed:
            log.info("backup %s is gone from %s: its resource is deleted", name, r.name)
        return imported, removed

    def _gone(self, r: Resolved, obj: JSON) -> bool:
        return (
            labels_of(obj).get(LOCATION_LABEL) == r.name
            and phase_of(obj) in FINISHED
            and DELETION_PENDING not in annotations_of(obj)
        )

    def _import(self, r: Resolved, backup: Backup) -> bool:
        name = backup.metadata.name
        spec = backup.spec.model_copy(update={"storage_location": r.name})
        body = {
            "metadata": {
                "name": name,
                "labels": {**backup.metadata.labels, LOCATION_LABEL: r.name},
                "annotations": {IMPORTED: r.name},
            },
            "spec": spec.to_json_dict(),
        }
        try:
            obj = self.ctx.res.create("backups", body)
        except ClusterConflict:
            return False  # created meanwhile (by a run or another pass)
        except BackupdError as e:
            log.warning("cannot import backup %s from %s: %s", name, r.name, e)
            return False
        self.ctx.res.patch_status("backups", name, backup.status.to_json_dict())
        self.ctx.res.event(obj, "Imported", f"found in storage location {r.name}")
        log.info("imported backup %s from %s", name, r.name)
        return True
