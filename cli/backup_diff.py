"""`backupctl backup diff A B` and `backup diff A --live`: what changed, grouped by
namespace, under a header naming both sides and their times.

Between two backups, only items whose stored bytes differ are read (and, with
--hide-owned, the added and removed ones, to see their ownerReferences). Against the
live cluster, the objects the backup's own spec selects now are listed
(backupd.backup.live), and both sides are normalised as a restore's compare does
(backupd.restore.normalize) before their fields are compared.

Types backupd never backs up nor restores (events, nodes, leases, ...: the
intersection of backupd.backup.selection.NEVER_BACKED_UP and
backupd.restore.filters.NEVER_RESTORED) are no difference: only a backup written by
another tool (Velero takes events) holds them, and neither backupd nor its restore
would ever act on them. They are left out, counted, and said in one line on stderr
(`say_hidden`); `--show-all` shows them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from backupd.api.backup import Backup
from backupd.archive.format import IndexEntry
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
from backupd.backup.selection import NEVER_BACKED_UP
from backupd.cluster.client import KubeClient
from backupd.restore.filters import NEVER_RESTORED
from backupd.restore.normalize import normalize
from backupd.storage.location import Location
from cli.output import console, info, timestamp

# group_resource -> why backupd never keeps it (neither backs it up nor restores it)
NEVER_KEPT: dict[str, str] = {
    gr: why for gr, why in NEVER_BACKED_UP.items() if gr in NEVER_RESTORED
}


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
    never_kept: dict[str, int] = field(default_factory=dict)  # group_resource -> items hidden

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
            "hiddenNeverKept": dict(self.never_kept),
        }


def _kept(entries: list[IndexEntry], show_all: bool, hidden: dict[str, int]) -> list[IndexEntry]:
    """`entries` without the types backupd never keeps (unless show_all), counting those."""
    if show_all:
        return entries
    out = []
    for e in entries:
        if e.group_resource in NEVER_KEPT:
            hidden[e.group_resource] = hidden.get(e.group_resource, 0) + 1
        else:
            out.append(e)
    return out


def say_hidden(report: Report) -> None:
    """One line on stderr: how many items of never-kept types were left out, and why."""
    if not report.never_kept:
        return
    counts = ", ".join(f"{n} {gr}" for gr, n in sorted(report.never_kept.items()))
    why = "; ".join(dict.fromkeys(NEVER_KEPT[gr] for gr in sorted(report.never_kept)))
    info(
        f"not compared: {counts} (backupd never backs up nor restores them: {why}); "
        "--show-all compares them too"
    )


def between(loc: Location, a: str, b: str, flt: ItemFilter, *, show_all: bool = False) -> Report:
    """Backup `a` against backup `b`."""
    left, right = stored.load(loc, a), stored.load(loc, b)
    hidden: dict[str, int] = {}
    with stored.opened(loc, left) as old, stored.opened(loc, right) as new:
        flt.check_kinds(ItemRef.of(e) for e in (*old.entries, *new.entries))
        idx = diff_indexes(
            _kept([e for e in old.entries if flt.selects(ItemRef.of(e))], show_all, hidden),
            _kept([e for e in new.entries if flt.selects(ItemRef.of(e))], show_all, hidden),
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
    return Report(Side.of(left), Side.of(right), flt, shown(changes, flt), hidden)


def against_live(
    loc: Location, a: str, kube: KubeClient, flt: ItemFilter, *, show_all: bool = False
) -> Report:
    """Backup `a` against what its spec selects in the live cluster now."""
    backup = stored.load(loc, a)
    hidden: dict[str, int] = {}
    with stored.opened(loc, backup) as opened:
        entries = opened.entries
        wanted = _kept([e for e in entries if flt.selects(ItemRef.of(e))], show_all, hidden)
        then = {ItemRef.of(e).key: (ItemRef.of(e), obj) for e, obj in opened.objects(wanted)}
    at = datetime.datetime.now(datetime.UTC)
    live = live_objects(kube, backup, entries)
    flt.check_kinds([*(ItemRef.of(e) for e in entries), *(r for r, _ in live.values())])
    now = {k: v for k, v in live.items() if flt.selects(v[0])}
    changes = object_changes(then, now, normalize=normalize)
    return Report(
        Side.of(backup), Side(f"live cluster {kube.host}", at), flt, shown(changes, flt), hidden
    )


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
