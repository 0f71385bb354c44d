"""Compare a live object with the backup's version; render a readable diff. Pure.

The comparison projects the live object onto the backup's shape: a field the backup
does not have is a default or server-set value and is ignored, except inside the
maps of EXACT_PATHS (labels, annotations, ConfigMap and Secret data), where an extra
key is a real difference. Lists must match element by element.

Secret values (data, stringData, and the last-applied annotation that repeats them)
are shown as "***" in every diff; a value that differs shows as "*** (differs)".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml

JSON = dict[str, Any]
Path = tuple[str, ...]
EXACT_PATHS: frozenset[Path] = frozenset(
    {
        ("metadata", "labels"),
        ("metadata", "annotations"),
        ("data",),
        ("binaryData",),
        ("stringData",),
    }
)
MASK = "***"
MASK_DIFFERS = "*** (differs)"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_EMPTY: tuple[Any, ...] = (None, {}, [], "")


def project(live: Any, desired: Any, path: Path = ()) -> Any:
    """`live` restricted to the fields `desired` has (all fields under EXACT_PATHS)."""
    if desired in _EMPTY and live in _EMPTY:
        return desired
    if isinstance(desired, dict) and isinstance(live, dict):
        if path in EXACT_PATHS:
            return dict(live)
        out: JSON = {}
        for k, v in desired.items():
            if k in live:
                out[k] = project(live[k], v, (*path, k))
            elif v in _EMPTY:
                out[k] = v  # an empty value and a missing one mean the same
        for k, v in live.items():
            if k not in desired and (*path, k) in EXACT_PATHS and v not in _EMPTY:
                out[k] = v  # e.g. labels added to an object the backup has none on
        return out
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [project(lv, dv, path) for lv, dv in zip(live, desired, strict=True)]
    return live


def merge_patch(live: Any, desired: Any) -> JSON:
    """A JSON merge patch that turns projected `live` into `desired`."""
    patch: JSON = {}
    for k, v in desired.items():
        if k not in live:
            patch[k] = v
        elif isinstance(v, dict) and isinstance(live[k], dict):
            sub = merge_patch(live[k], v)
            if sub:
                patch[k] = sub
        elif live[k] != v:
            patch[k] = v
    for k in live:
        if k not in desired:
            patch[k] = None
    return patch


def _mask_secret(live: JSON, desired: JSON) -> tuple[JSON, JSON]:
    live, desired = dict(live), dict(desired)
    for key in ("data", "stringData"):
        lv, dv = live.get(key), desired.get(key)
        if isinstance(lv, dict):
            live[key] = {k: MASK for k in lv}
        if isinstance(dv, dict):
            same = lv if isinstance(lv, dict) else {}
            desired[key] = {k: MASK if same.get(k, v) == v else MASK_DIFFERS for k, v in dv.items()}
    for side, other in ((live, desired), (desired, live)):
        annotations = (side.get("metadata") or {}).get("annotations") or {}
        if LAST_APPLIED in annotations:
            theirs = ((other.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
            shown = MASK if side is live or theirs == annotations[LAST_APPLIED] else MASK_DIFFERS
            side["metadata"] = dict(side["metadata"])
            side["metadata"]["annotations"] = {**annotations, LAST_APPLIED: shown}
    return live, desired


def render(obj: JSON) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=100)


def unified_diff(live: JSON, desired: JSON, where: str) -> str:
    if desired.get("kind") == "Secret" or live.get("kind") == "Secret":
        live, desired = _mask_secret(live, desired)
    lines = difflib.unified_diff(
        render(live).splitlines(),
        render(desired).splitlines(),
        fromfile=f"live {where}",
        tofile=f"backup {where}",
        lineterm="",
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class Comparison:
    identical: bool
    diff: str  # empty when identical
    patch: JSON  # merge patch from live to the backup's version


def compare(live: JSON, desired: JSON, where: str = "") -> Comparison:
    """Both objects must be normalised already (see normalize)."""
    projected = project(live, desired)
    if projected == desired:
        return Comparison(True, "", {})
    return Comparison(
        False, unified_diff(projected, desired, where), merge_patch(projected, desired)
    )
