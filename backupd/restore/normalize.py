"""Normalise an object for comparison: drop what the server or controllers set. Pure.

Applied to both sides, the live object and the backup's version as the server would
store it (or, in the fallback, the backup's transformed object), so that a restored
object compares equal to its backup on the next run. What the server owns is decided
in serverfields; how the two sides are compared, in diffing.
"""

from __future__ import annotations

import copy
from typing import Any

from backupd.restore.actions.job import strip_uid
from backupd.restore.actions.pod import strip_placement
from backupd.restore.serverfields import SERVER_ANNOTATIONS, SERVER_LABELS, SERVER_METADATA

JSON = dict[str, Any]


def _clean_map(meta: JSON, key: str, dropped: frozenset[str]) -> None:
    values = meta.get(key)
    if isinstance(values, dict):
        for k in dropped:
            values.pop(k, None)
        if not values:
            del meta[key]


def normalize(obj: JSON) -> JSON:
    """A copy of `obj` without server-set metadata, status and controller-set fields."""
    # status and server metadata (managedFields is most of a live object) are left
    # out before the copy, not copied and then dropped: this runs per compared item
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
    out = copy.deepcopy(out)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        _clean_map(meta, "annotations", SERVER_ANNOTATIONS)
        _clean_map(meta, "labels", SERVER_LABELS)
    group = str(out.get("apiVersion", "")).rpartition("/")[0]
    kind = out.get("kind")
    if (group, kind) == ("batch", "Job"):
        strip_uid(out)
    elif (group, kind) == ("", "Pod") and isinstance(out.get("spec"), dict):
        strip_placement(out["spec"])
    return out
