"""Pods restored on their own: let the scheduler place them again, and let the
target mount its own service-account token."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context
from backupd.restore.serverfields import TOKEN_VOLUME_PREFIX


def strip_placement(spec: JSON) -> None:
    """Drop what scheduling and admission set on a Pod spec (in place)."""
    spec.pop("nodeName", None)
    spec.pop("priority", None)  # admission computes it from priorityClassName
    volumes = spec.get("volumes")
    if volumes:
        spec["volumes"] = [
            v for v in volumes if not str(v.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)
        ]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            mounts = c.get("volumeMounts")
            if mounts:
                c["volumeMounts"] = [
                    m for m in mounts if not str(m.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)
                ]


def run(obj: JSON, ctx: Context) -> JSON:
    strip_placement(obj.get("spec") or {})
    return obj


ACTION = Action("pod-placement", run, kinds=frozenset({("", "Pod")}))
