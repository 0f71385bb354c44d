"""Per-kind restore actions, one module each, and the registry that orders them.

Skips come first (they look at the object as backed up, owners included), then
kind-specific transforms, then the mappings, and last the metadata strip.
"""

from __future__ import annotations

from backupd.restore.actions import (
    endpoints,
    job,
    managed,
    metadata,
    namespace_mapping,
    owned,
    pod,
    pv,
    pvc,
    secret,
    service,
    storage_class,
)
from backupd.restore.actions.base import JSON, Action, Changed, Context, Skip

REGISTRY: tuple[Action, ...] = (
    owned.ACTION,
    endpoints.ACTION,
    secret.ACTION,
    managed.ACTION,
    service.ACTION,
    job.ACTION,
    pvc.ACTION,
    pv.ACTION,
    pod.ACTION,
    storage_class.ACTION,
    namespace_mapping.ACTION,
    metadata.ACTION,
)


def transform(
    obj: JSON, group: str, kind: str, ctx: Context, registry: tuple[Action, ...] = REGISTRY
) -> tuple[JSON | None, str | None, list[str]]:
    """Run every action that applies, in order, on `obj` (a private copy).

    Returns (object, None, notes) or (None, skip reason, notes).
    """
    notes: list[str] = []
    for action in registry:
        if not action.applies_to(group, kind):
            continue
        result = action.run(obj, ctx)
        if isinstance(result, Skip):
            return None, result.reason, notes
        if isinstance(result, Changed):
            notes.extend(result.notes)
            obj = result.obj
        else:
            obj = result
    return obj, None, notes


__all__ = ["REGISTRY", "Action", "Changed", "Context", "Skip", "transform"]
