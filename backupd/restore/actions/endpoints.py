"""Endpoints and EndpointSlices that Kubernetes derives from a restored Service."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, Skip, meta

_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
_SLICE_CONTROLLER = "endpointslice-controller.k8s.io"


def run(obj: JSON, ctx: Context) -> JSON | Skip:
    m = meta(obj)
    ns = str(m.get("namespace") or "")
    if obj.get("kind") == "Endpoints":
        if (ns, str(m.get("name"))) in ctx.selector_services:
            return Skip("made again from its Service's selector")
        return obj
    labels = m.get("labels") or {}
    owned = any(r.get("kind") == "Service" for r in m.get("ownerReferences") or [])
    if owned or labels.get(_MANAGED_BY) == _SLICE_CONTROLLER:
        return Skip("made again by the EndpointSlice controller from its Service")
    return obj


ACTION = Action(
    "skip-service-endpoints",
    run,
    kinds=frozenset({("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice")}),
)
