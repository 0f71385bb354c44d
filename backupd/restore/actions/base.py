"""What every restore action shares: the context it may look at, and how it says skip.

An action is a pure function `run(obj, ctx) -> obj | Skip` over a plain dict. It gets
the planner's private copy of the object and may change it in place; it never does
I/O. `kinds` limits an action to some (group, kind) pairs; None means every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backupd.api.restore import RestoreSpec

JSON = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What an action may know about the rest of the restore."""

    spec: RestoreSpec
    # uids (in the backup) of every selected item: owners that are being restored
    restored_uids: frozenset[str] = frozenset()
    # (namespace, name) of selected Services that have a selector
    selector_services: frozenset[tuple[str, str]] = frozenset()
    # names of selected PersistentVolumes
    restored_pvs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Changed:
    """An action's result when it wants to say what it did (shown in the plan)."""

    obj: JSON
    notes: tuple[str, ...] = ()


Result = JSON | Skip | Changed


@dataclass(frozen=True)
class Action:
    name: str
    run: Callable[[JSON, Context], Result]
    kinds: frozenset[tuple[str, str]] | None = None
    description: str = field(default="")

    def applies_to(self, group: str, kind: str) -> bool:
        return self.kinds is None or (group, kind) in self.kinds


def meta(obj: JSON) -> JSON:
    """The object's metadata dict (created if missing)."""
    m: JSON = obj.setdefault("metadata", {})
    return m


def drop_keys(d: JSON | None, keys: frozenset[str] | set[str] | tuple[str, ...]) -> None:
    """Remove keys from a dict in place; a dict left empty is left as {}."""
    if d:
        for k in keys:
            d.pop(k, None)


def controller_uid(obj: JSON) -> str | None:
    """The uid of the object's controlling owner, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None
