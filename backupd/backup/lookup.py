"""Finding one item of a backup by the name a person types: `cm/settings`,
`deploy/web`, `configmap/settings`, `deployments.apps/web`. Pure.

A type is any spelling kubectl accepts (backupd.kinds.spellings), with the built-in
short names known without a cluster (backupd.kinds.shortnames). An item that is not
there is a one-line error naming the closest items that are.
"""

from __future__ import annotations

from collections.abc import Sequence

from backupd.archive.format import IndexEntry
from backupd.backup.inspect import ItemRef, close_matches, did_you_mean
from backupd.errors import NotFoundError, UserInputError


def _spelled(kind: str, ref: ItemRef) -> str:
    where = f" -n {ref.namespace}" if ref.namespace else ""
    return f"{kind}/{ref.name}{where}"


def _within(ref: ItemRef, namespace: str | None) -> bool:
    """In `namespace`; -n is ignored for a cluster-scoped item, as kubectl ignores it."""
    return namespace is None or ref.namespace is None or ref.namespace == namespace


def find_item(
    entries: Sequence[IndexEntry], item: str, namespace: str | None, backup: str
) -> IndexEntry:
    """The one entry `item` (TYPE/NAME) names, in `namespace` if given."""
    kind, slash, name = item.partition("/")
    if not slash or not kind or not name:
        raise UserInputError(f"expected TYPE/NAME (e.g. cm/settings), got {item!r}")
    refs = [(e, ItemRef.of(e)) for e in entries]
    named: dict[tuple[str, str, str], bool] = {}  # per type, not per item
    for _, r in refs:
        if (r.group, r.resource, r.kind) not in named:
            named[(r.group, r.resource, r.kind)] = r.type_name.matches(kind)
    of_type = [(e, r) for e, r in refs if named[(r.group, r.resource, r.kind)]]
    hits = [e for e, r in of_type if r.name == name and _within(r, namespace)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        options = ", ".join(str(ItemRef.of(e)) for e in hits[:5])
        raise UserInputError(f"{item} is ambiguous ({options}); add -n NAMESPACE or the group")
    inside = f" in namespace {namespace}" if namespace else ""
    absent = f"{item}{inside} is not in backup {backup}"
    if of_type:  # the type is there: its closest names, in any namespace
        close = set(close_matches(name, (r.name for _, r in of_type)))
        if namespace is not None and name in {r.name for _, r in of_type}:
            close.add(name)  # there, in another namespace
        near = sorted(_spelled(kind, r) for _, r in of_type if r.name in close)
        raise NotFoundError(absent + did_you_mean(near[:3]))
    spellings: dict[str, list[ItemRef]] = {}
    for _, r in refs:
        for spelling in {r.kind.lower(), r.resource, *r.type_name.short_names}:
            spellings.setdefault(spelling, []).append(r)
    kinds = close_matches(kind.lower(), spellings)
    items = sorted(
        _spelled(k, r) for k in kinds[:1] for r in spellings[k] if r.name == name
    )  # the closest type holding an item of that name
    raise NotFoundError(absent + did_you_mean(items[:3] or kinds))
