"""Audit helpers over backups: what changed between two, field by field. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backupd.api.masking import mask_pair
from backupd.archive.format import IndexEntry

# Fields that change without anyone changing the object.
VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")


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


def _strip_volatile(obj: dict[str, Any]) -> dict[str, Any]:
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


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
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
