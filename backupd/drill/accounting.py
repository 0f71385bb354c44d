"""Every item of a drilled backup accounted for: created, unchanged, skipped or failed,
per namespace. Pure: the backup's index and the restore's item results in, counts out.

A drill restores the whole backup with no namespace mapping, so an item's result has
the same (group, resource, namespace, name) as its index entry. An entry with no
result at all is unaccounted for, and fails the drill.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from backupd.api.drill import NamespaceAccount, WorkloadReadiness
from backupd.api.restore import ItemResult, Outcome
from backupd.archive.format import IndexEntry

Key = tuple[str, str, str, str]

# How a restore outcome counts in a namespace's account. An object that already
# existed and differs was left alone with its reason: skipped, not lost.
_COLUMN = {
    Outcome.created: "created",
    Outcome.updated: "created",
    Outcome.unchanged: "unchanged",
    Outcome.differs: "skipped",
    Outcome.skipped: "skipped",
    Outcome.failed: "failed",
}


def result_key(r: ItemResult) -> Key:
    return (r.group, r.resource, r.namespace or "", r.name)


def unaccounted(entries: Iterable[IndexEntry], items: Iterable[ItemResult]) -> list[IndexEntry]:
    """The backup's items that have no restore result, in index order."""
    seen = {result_key(r) for r in items}
    return [e for e in entries if e.key not in seen]


def accounts(
    entries: Sequence[IndexEntry],
    items: Sequence[ItemResult],
    workloads: Sequence[WorkloadReadiness] = (),
) -> list[NamespaceAccount]:
    """Per namespace ("" for cluster-scoped items), sorted by name: the backup's items
    and what became of each, and its workloads and how many came back ready."""
    table: dict[str, NamespaceAccount] = {}

    def account(namespace: str | None) -> NamespaceAccount:
        ns = namespace or ""
        if ns not in table:
            table[ns] = NamespaceAccount(namespace=ns)
        return table[ns]

    in_backup = {e.key for e in entries}
    for e in entries:
        account(e.namespace).items += 1
    for r in items:
        if result_key(r) not in in_backup:
            continue  # e.g. a namespace the restore made up for items whose own was not backed up
        row = account(r.namespace)
        column = _COLUMN[r.outcome]
        setattr(row, column, getattr(row, column) + 1)
    for w in workloads:
        row = account(w.namespace)
        row.workloads += 1
        row.workloads_ready += int(w.ready)
    return [table[ns] for ns in sorted(table)]


def restore_counts(items: Iterable[ItemResult]) -> dict[str, int]:
    """outcome -> number of items, for the outcomes that occurred."""
    counted = Counter(r.outcome.value for r in items)
    return {o.value: counted[o.value] for o in Outcome if counted[o.value]}
