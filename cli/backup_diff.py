"""`backupctl backup diff A B` and `backup diff A --live`: what changed, grouped by
namespace, under a header naming both sides and their times.

Between two backups, only items whose stored bytes differ are read (and, with
--hide-owned, the added and removed ones, to see their ownerReferences). Against the
live cluster, the objects the backup's own spec selects now are listed
(backupd.backup.live), and both sides are normalised as a restore's compare does
(backupd.restore.normalize) before their fields are compared.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from backupd.api.backup import Backup
from backupd.backup import stored
from backupd.backup.inspect import (
    ItemChange,
    ItemFilter,
    ItemRef,
    Shown,
    diff_indexes,
    field_changes,
    is_churn,
    object_changes,
    shown,
)
from backupd.backup.live import live_objects
from backupd.cluster.client import KubeClient
from backupd.restore.normalize import normalize
from backupd.storage.location import Location
from cli.output import console, info, timestamp


@dataclass(frozen=True)
class Side:
    """One side of a diff: a backup (its name and creation time) or the live cluster."""

    label: str  # "backup nightly-1", "live cluster https://..."
    time: datetime.datetime | None

    @classmethod
    def of(cls, b: Backup) -> Side:
        return cls(f"backup {b.metadata.name}", b.metadata.creation_timestamp)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.label, "time": timestamp(self.time)}


@dataclass
class Report:
    old: Side
    new: Side
    filter: ItemFilter
    shown: Shown

    def to_dict(self) -> dict[str, Any]:
        changes = self.shown.changes
        return {
            "from": self.old.to_dict(),
            "to": self.new.to_dict(),
            "filters": self.filter.describe(),
            "added": [str(c.ref) for c in changes if c.change == "added"],
            "removed": [str(c.ref) for c in changes if c.change == "removed"],
            "changed": [c.to_dict() for c in changes if c.change == "changed"],
            "hiddenOwned": self.shown.hidden,
        }


def between(loc: Location, a: str, b: str, flt: ItemFilter) -> Report:
    """Backup `a` against backup `b`."""
    left, right = stored.load(loc, a), stored.load(loc, b)
    with stored.opened(loc, left) as old, stored.opened(loc, right) as new:
        flt.check_kinds(ItemRef.of(e) for e in (*old.entries, *new.entries))
        idx = diff_indexes(
            [e for e in old.entries if flt.selects(ItemRef.of(e))],
            [e for e in new.entries if flt.selects(ItemRef.of(e))],
        )
        owners = flt.hide_owned  # added/removed objects are read only to see their owners
        before = old.load_paths(
            {e.path for e, _ in idx.maybe_changed} | {e.path for e in idx.removed if owners}
        )
        after = new.load_paths(
            {e.path for _, e in idx.maybe_changed} | {e.path for e in idx.added if owners}
        )
    changes = [
        ItemChange(r, "added", churn=is_churn(r, after.get(e.path)))
        for e in idx.added
        for r in [ItemRef.of(e)]
    ]
    changes += [
        ItemChange(r, "removed", churn=is_churn(r, before.get(e.path)))
        for e in idx.removed
        for r in [ItemRef.of(e)]
    ]
    for e_old, e_new in idx.maybe_changed:
        was, now = before[e_old.path], after[e_new.path]
        fields = field_changes(was, now)
        if fields:
            r = ItemRef.of(e_new)
            churn = is_churn(r, was) or is_churn(r, now)
            changes.append(ItemChange(r, "changed", tuple(fields), churn=churn))
    changes.sort(key=lambda c: c.ref.key)
    return Report(Side.of(left), Side.of(right), flt, shown(changes, flt))


def against_live(loc: Location, a: str, kube: KubeClient, flt: ItemFilter) -> Report:
    """Backup `a` against what its spec selects in the live cluster now."""
    backup = stored.load(loc, a)
    with stored.opened(loc, backup) as opened:
        entries = opened.entries
        wanted = [e for e in entries if flt.selects(ItemRef.of(e))]
        then = {ItemRef.of(e).key: (ItemRef.of(e), obj) for e, obj in opened.objects(wanted)}
    at = datetime.datetime.now(datetime.UTC)
    live = live_objects(kube, backup, entries)
    flt.check_kinds([*(ItemRef.of(e) for e in entries), *(r for r, _ in live.values())])
    now = {k: v for k, v in live.items() if flt.selects(v[0])}
    changes = object_changes(then, now, normalize=normalize)
    return Report(Side.of(backup), Side(f"live cluster {kube.host}", at), flt, shown(changes, flt))


_MARKS = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow")}


def _item(c: ItemChange) -> str:
    return f"{c.ref.group_resource}/{c.ref.name}"


def print_report(report: Report) -> None:
    """The header, then each namespace's changes (cluster-scoped last), then counts."""
    p = console.print
    width = max(len(report.old.label), len(report.new.label))
    p(f"--- {report.old.label:<{width}}  {timestamp(report.old.time)}", markup=False)
    p(f"+++ {report.new.label:<{width}}  {timestamp(report.new.time)}", markup=False)
    if report.filter.describe():
        p(f"filters: {report.filter.describe()}", markup=False, highlight=False)
    for namespace, changes in report.shown.by_namespace():
        p(f"namespace {namespace}:" if namespace else "cluster-scoped:", markup=False)
        for c in changes:
            mark, colour = _MARKS[c.change]
            p(f"  {mark} {_item(c)}", style=colour, markup=False, highlight=False)
            for f in c.fields:
                p(f"      {f.path}: {f.old!r} -> {f.new!r}", markup=False, highlight=False)
    s = report.shown
    hidden = f"; {s.hidden} controller-owned change(s) hidden" if s.hidden else ""
    info(
        f"{s.count('added')} added, {s.count('removed')} removed, "
        f"{s.count('changed')} changed{hidden}"
    )
