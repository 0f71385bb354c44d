"""Audit helpers over backups: what changed between two (or a backup and the live
cluster), field by field; which items a view shows; a backup's item list. Pure.

    diff_indexes(a, b)          items added, removed, and maybe changed (other bytes)
    field_changes(old, new)     leaf-level changes, Secret values masked
    ItemFilter                  --namespace, --kind and --hide-owned of `backup diff`
    object_changes(old, new)    two sets of objects (a backup and the live cluster)
    resource_list(entries)      `describe --details`: every item, grouped by type
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backupd.api.masking import mask_pair
from backupd.archive.format import IndexEntry
from backupd.archive.format import ItemRef as ItemRef  # re-exported: where views name items
from backupd.errors import UserInputError
from backupd.kinds.shortnames import names_builtin

JSON = dict[str, Any]

# Fields that change without anyone changing the object.
VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")

# Types whose objects controllers make and remake: churn, not changes people made.
OWNED_TYPES: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "pods"),
        ("", "endpoints"),
        ("apps", "replicasets"),
        ("apps", "controllerrevisions"),
        ("discovery.k8s.io", "endpointslices"),
    }
)


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any


@dataclass
class IndexDiff:
    added: list[IndexEntry] = field(default_factory=list)
    removed: list[IndexEntry] = field(default_factory=list)
    maybe_changed: list[tuple[IndexEntry, IndexEntry]] = field(default_factory=list)


def diff_indexes(a: list[IndexEntry], b: list[IndexEntry]) -> IndexDiff:
    """Items only in b (added), only in a (removed), and in both with other bytes."""
    left = {e.key: e for e in a}
    right = {e.key: e for e in b}
    out = IndexDiff()
    out.added = sorted((right[k] for k in right.keys() - left.keys()), key=lambda e: e.key)
    out.removed = sorted((left[k] for k in left.keys() - right.keys()), key=lambda e: e.key)
    out.maybe_changed = sorted(
        (
            (left[k], right[k])
            for k in left.keys() & right.keys()
            if left[k].sha256 != right[k].sha256
        ),
        key=lambda pair: pair[0].key,
    )
    return out


def _strip_volatile(obj: JSON) -> JSON:
    """Without status (what the cluster observed) and metadata that moves on its own."""
    meta = dict(obj.get("metadata") or {})
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def _walk(path: str, old: Any, new: Any, out: list[FieldChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            child = f"{path}.{key}" if path else str(key)
            _walk(child, old.get(key, _MISSING), new.get(key, _MISSING), out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            _walk(f"{path}[{i}]", o, n, out)
    elif old != new:
        out.append(
            FieldChange(path, None if old is _MISSING else old, None if new is _MISSING else new)
        )


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


_MISSING: Any = _Missing()


def field_changes(old: JSON, new: JSON) -> list[FieldChange]:
    """Leaf-level changes between two versions of an object's desired state.

    Status and volatile metadata (resourceVersion, generation, managedFields) are
    ignored: they change without anyone changing the object.

    Secret values are compared for real but shown masked (backupd.api.masking), so a
    diff says *that* a value changed, never what it was or became.
    """
    changes: list[FieldChange] = []
    shown_old, shown_new = mask_pair(_strip_volatile(old), _strip_volatile(new))
    _walk("", shown_old, shown_new, changes)
    return changes


def controller_owned(obj: JSON | None) -> bool:
    """Whether a controller made the object (an ownerReference with controller: true)."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, dict) and r.get("controller") is True for r in refs)


def is_churn(ref: ItemRef, obj: JSON | None) -> bool:
    """Pods, ReplicaSets, Endpoints(lices), ControllerRevisions, and anything else a
    controller owns: what `--hide-owned` hides."""
    return (ref.group, ref.resource) in OWNED_TYPES or controller_owned(obj)


@dataclass(frozen=True)
class ItemChange:
    ref: ItemRef
    change: str  # "added", "removed" or "changed"
    fields: tuple[FieldChange, ...] = ()
    churn: bool = False  # see is_churn

    def to_dict(self) -> JSON:
        if self.change != "changed":
            return {"item": str(self.ref)}
        return {
            "item": str(self.ref),
            "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in self.fields],
        }


def object_changes(
    old: Mapping[tuple[str, str, str, str], tuple[ItemRef, JSON]],
    new: Mapping[tuple[str, str, str, str], tuple[ItemRef, JSON]],
    *,
    normalize: Callable[[JSON], JSON] = lambda obj: obj,
) -> list[ItemChange]:
    """Objects only in `new` (added), only in `old` (removed), and in both with other
    fields (changed), each side `normalize`d first; sorted by identity."""
    out: list[ItemChange] = []
    for key in sorted(old.keys() | new.keys()):
        if key not in old:
            ref, obj = new[key]
            out.append(ItemChange(ref, "added", churn=is_churn(ref, obj)))
        elif key not in new:
            ref, obj = old[key]
            out.append(ItemChange(ref, "removed", churn=is_churn(ref, obj)))
        else:
            (_, before), (ref, after) = old[key], new[key]
            fields = field_changes(normalize(before), normalize(after))
            if fields:
                churn = is_churn(ref, after) or is_churn(ref, before)
                out.append(ItemChange(ref, "changed", tuple(fields), churn=churn))
    return out


def _split(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


@dataclass(frozen=True)
class ItemFilter:
    """Which items a diff shows: one namespace, some types (any kubectl spelling), and
    without controller-owned churn."""

    namespace: str | None = None
    kinds: tuple[str, ...] = ()
    hide_owned: bool = False

    @classmethod
    def of(cls, namespace: str | None, kinds: Iterable[str], hide_owned: bool) -> ItemFilter:
        return cls(namespace or None, _split(kinds), hide_owned)

    def check_kinds(self, refs: Iterable[ItemRef]) -> None:
        """A --kind that names no type of the compared items nor a built-in one is a typo."""
        types = {r.type_name for r in refs}
        for spelling in self.kinds:
            if names_builtin(spelling) or any(t.matches(spelling) for t in types):
                continue  # (a built-in type none of the items has: nothing to show)
            known = sorted({n for t in types for n in (t.kind.lower(), t.resource)})
            raise UserInputError(
                f"--kind {spelling!r} names no type in the compared items"
                + did_you_mean(close_matches(spelling.lower(), known))
            )

    def selects(self, ref: ItemRef) -> bool:
        """The namespace and --kind filters (known before any object is read)."""
        if self.namespace is not None and ref.namespace != self.namespace:
            return False
        return not self.kinds or any(ref.type_name.matches(k) for k in self.kinds)

    def describe(self) -> str:
        parts = [f"namespace {self.namespace}"] if self.namespace else []
        if self.kinds:
            parts.append(f"kind {','.join(self.kinds)}")
        if self.hide_owned:
            parts.append("controller-owned objects hidden")
        return ", ".join(parts)


@dataclass
class Shown:
    """The changes a filtered view shows, and how many churn changes it hid."""

    changes: list[ItemChange]
    hidden: int = 0

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)

    def by_namespace(self) -> list[tuple[str | None, list[ItemChange]]]:
        """Grouped by namespace (sorted), cluster-scoped items (None) last."""
        groups: dict[str | None, list[ItemChange]] = {}
        for c in self.changes:
            groups.setdefault(c.ref.namespace, []).append(c)
        order = sorted(ns for ns in groups if ns is not None) + ([None] if None in groups else [])
        return [(ns, groups[ns]) for ns in order]


def shown(changes: Iterable[ItemChange], flt: ItemFilter) -> Shown:
    out = Shown([])
    for c in changes:
        if not flt.selects(c.ref):
            continue
        if flt.hide_owned and c.churn:
            out.hidden += 1
        else:
            out.changes.append(c)
    return out


def close_matches(wrong: str, candidates: Iterable[str]) -> list[str]:
    """The (at most three) candidates closest to a mistyped `wrong`, closest first."""
    return difflib.get_close_matches(wrong, sorted(set(candidates)), n=3, cutoff=0.6)


def did_you_mean(options: Iterable[str]) -> str:
    """`; did you mean A or B?` (to end a one-line error), or nothing."""
    shown = list(options)
    return f"; did you mean {' or '.join(shown)}?" if shown else ""


def resource_list(entries: Iterable[IndexEntry]) -> dict[str, list[str]]:
    """Every item, grouped by `apiVersion/Kind` (sorted), each `namespace/name` (or the
    name of a cluster-scoped item), sorted by namespace then name: as Velero's
    `backup describe --details` lists them."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for e in entries:
        groups.setdefault(f"{e.api_version}/{e.kind}", []).append((e.namespace or "", e.name))
    return {
        kind: [f"{ns}/{name}" if ns else name for ns, name in sorted(items)]
        for kind, items in sorted(groups.items())
    }
