"""Secret values never leave backupd in output: describe, show, diff and logs mask them."""

from __future__ import annotations

import copy
from typing import Any

MASK = "***"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def is_secret(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and obj.get("apiVersion", "v1") == "v1"


def mask_secret(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` with every Secret value replaced by ***; other kinds unchanged."""
    if not is_secret(obj):
        return obj
    masked = copy.deepcopy(obj)
    for field in ("data", "stringData"):
        if isinstance(masked.get(field), dict):
            masked[field] = dict.fromkeys(masked[field], MASK)
    annotations = (masked.get("metadata") or {}).get("annotations") or {}
    if _LAST_APPLIED in annotations:
        annotations[_LAST_APPLIED] = MASK
    return masked
