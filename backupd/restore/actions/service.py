"""Services: the target allocates new cluster IPs (headless stays headless) and,
unless --preserve-nodeports, new node ports."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Changed, Context


def run(obj: JSON, ctx: Context) -> JSON | Changed:
    spec: JSON = obj.get("spec") or {}
    notes: list[str] = []
    if spec.get("clusterIP") not in (None, "", "None"):
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
        notes.append("cluster IP cleared")
    if not ctx.spec.preserve_nodeports:
        cleared = False
        for port in spec.get("ports") or []:
            cleared |= port.pop("nodePort", None) is not None
        cleared |= spec.pop("healthCheckNodePort", None) is not None
        if cleared:
            notes.append("node ports cleared")
    return Changed(obj, tuple(notes)) if notes else obj


ACTION = Action("service-addresses", run, kinds=frozenset({("", "Service")}))
