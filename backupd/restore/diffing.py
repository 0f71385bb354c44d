"""Compare a live object with the backup's version; render a readable diff. Pure.

`compare` looks at the whole object. The backup's side is the backup's version as the
target API server would store it in place of the live object (a server-side dry-run
replace, see applier and serverfields), so defaults and server-owned fields match the
live object's and every other difference is real, including a field that exists only
on the live object (an env var added after the backup).

`compare_fields` is the fallback for when the server will not say (it refuses the
backup's version as a replacement, or the restore may not ask): the live object
projected onto the backup's shape. A field the backup does not have is ignored there,
except inside the maps of EXACT_PATHS (labels, annotations, ConfigMap and Secret data),
where an extra key is a real difference; lists must match element by element.

Both take normalised objects (see normalize). Secret values are masked by the one
masking function (backupd.api.masking); a value that differs shows as "*** (differs)".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml

from backupd.api.masking import MASK, mask_pair

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
MASK_DIFFERS = f"{MASK} (differs)"
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


def masked(live: JSON, backup: JSON) -> tuple[JSON, JSON]:
    """Both sides with Secret values masked; the backup's values that differ marked so."""
    return mask_pair(live, backup, changed="(differs)")


class _Dumper(yaml.SafeDumper):
    """Every value written out in full: no &anchors and *aliases for repeated maps."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(obj: JSON) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)


def unified_diff(live: JSON, backup: JSON, where: str) -> str:
    live, backup = masked(live, backup)
    lines = difflib.unified_diff(
        render(live).splitlines(),
        render(backup).splitlines(),
        fromfile=f"live {where}",
        tofile=f"backup {where}",
        lineterm="",
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class Comparison:
    identical: bool
    diff: str  # empty when identical


def compare(live: JSON, backup: JSON, where: str = "") -> Comparison:
    """The whole objects; `backup` is the server's rendering of the backup's version."""
    if live == backup:
        return Comparison(True, "")
    return Comparison(False, unified_diff(live, backup, where))


def compare_fields(live: JSON, backup: JSON, where: str = "") -> Comparison:
    """The backup's fields only (the fallback; see the module docstring)."""
    projected = project(live, backup)
    if projected == backup:
        return Comparison(True, "")
    return Comparison(False, unified_diff(projected, backup, where))
