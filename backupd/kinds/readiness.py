"""Is a workload available? Rules per kind, on the object as the API server returns it. Pure.

    judge(group, kind, live, endpoints=...)  -> Verdict(ready, reason)
    was_ready(group, kind, backed_up, endpoints=...) -> bool   (the same rule, on the backup)

- Deployment, StatefulSet, DaemonSet: rolled out - the controller has seen the latest
  generation, and as many replicas are updated and available as the spec asks for.
- Job: complete (condition Complete). A Job that was not complete in the backup was
  not ready there, so its not being complete now is no failure.
- PersistentVolumeClaim: Bound.
- Pod (one of its own): Ready, or Succeeded.
- Service: with a selector, at least one ready endpoint (EndpointSlices, or the
  Endpoints object), or, where the endpoint controller publishes none (a sandbox's
  loopback pod addresses are refused in endpoints), a ready Pod its selector selects;
  without a selector (or ExternalName) there is nothing to wait for.
- A custom resource: accepted - it reads back (so its CRD is served); when it has
  status.conditions, a Ready or Available condition that is not True holds it back.

Other built-in kinds (ConfigMaps, Secrets, RBAC, ...) are not workloads: `watched`
says False for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

# groups of the types Kubernetes itself serves; any other group is a custom resource
_BUILTIN_GROUPS = frozenset(
    {"", "apps", "batch", "autoscaling", "policy", "extensions", "apiregistration.k8s.io"}
)
_WORKLOADS = frozenset(
    {
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("batch", "Job"),
        ("", "PersistentVolumeClaim"),
        ("", "Pod"),
        ("", "Service"),
    }
)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # an EndpointSlice's Service
_HELD_BACK = ("Ready", "Available")


@dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: str | None = None  # one line, when not ready


READY = Verdict(True)


def is_custom(group: str) -> bool:
    return group not in _BUILTIN_GROUPS and not group.endswith(".k8s.io")


def watched(group: str, kind: str) -> bool:
    """Whether restore waits for objects of this kind to be available."""
    return (group, kind) in _WORKLOADS or is_custom(group)


def _part(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = _part(obj, "status").get("conditions")
    conditions = found if isinstance(found, list) else []
    return {str(c.get("type")): c for c in conditions if isinstance(c, dict)}


def _said(condition: Mapping[str, Any]) -> str:
    """A condition's reason and message, on one line."""
    text = ": ".join(str(condition[k]) for k in ("reason", "message") if condition.get(k))
    return " ".join(text.split())[:300]


def _not_observed(obj: Mapping[str, Any]) -> Verdict | None:
    generation = _int(_part(obj, "metadata").get("generation"))
    observed = _int(_part(obj, "status").get("observedGeneration"), -1)
    if observed < generation:
        return Verdict(False, "the controller has not seen the latest spec yet")
    return None


def _failure(obj: Mapping[str, Any]) -> str:
    """Why a controller cannot make pods, from its conditions (`; ...`) or ''."""
    conditions = _conditions(obj)
    failure = conditions.get("ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return f"; {_said(failure)}"
    progressing = conditions.get("Progressing")
    if progressing is not None and progressing.get("status") == "False":
        return f"; {_said(progressing)}"
    return ""


def deployment(obj: Mapping[str, Any]) -> Verdict:
    wanted = _int(_part(obj, "spec").get("replicas"), 1)
    status = _part(obj, "status")
    updated, available = _int(status.get("updatedReplicas")), _int(status.get("availableReplicas"))
    total = _int(status.get("replicas"))
    stale = _not_observed(obj)
    if stale is not None and wanted:
        return Verdict(False, stale.reason)
    if updated >= wanted and available >= wanted and total <= updated:
        return READY
    return Verdict(False, f"{available}/{wanted} available, {updated} updated{_failure(obj)}")


def stateful_set(obj: Mapping[str, Any]) -> Verdict:
    wanted = _int(_part(obj, "spec").get("replicas"), 1)
    status = _part(obj, "status")
    ready = _int(status.get("readyReplicas"))
    available = _int(status.get("availableReplicas"), ready)
    updated = _int(status.get("updatedReplicas"))
    stale = _not_observed(obj)
    if stale is not None and wanted:
        return Verdict(False, stale.reason)
    on_delete = _part(_part(obj, "spec"), "updateStrategy").get("type") == "OnDelete"
    if ready >= wanted and available >= wanted and (on_delete or updated >= wanted):
        return READY
    return Verdict(False, f"{available}/{wanted} available, {updated} updated{_failure(obj)}")


def daemon_set(obj: Mapping[str, Any]) -> Verdict:
    status = _part(obj, "status")
    wanted = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    stale = _not_observed(obj)
    if stale is not None:
        return stale
    if updated >= wanted and available >= wanted:
        return READY
    return Verdict(False, f"{available}/{wanted} nodes available, {updated} updated")


def job(obj: Mapping[str, Any]) -> Verdict:
    conditions = _conditions(obj)
    for kind in ("Complete", "SuccessCriteriaMet"):
        if (conditions.get(kind) or {}).get("status") == "True":
            return READY
    failed = conditions.get("Failed")
    if failed is not None and failed.get("status") == "True":
        return Verdict(False, f"failed: {_said(failed)}")
    if _part(obj, "spec").get("suspend") is True:
        return Verdict(False, "suspended")
    status = _part(obj, "status")
    active, succeeded = _int(status.get("active")), _int(status.get("succeeded"))
    return Verdict(False, f"not complete ({active} active, {succeeded} succeeded)")


def claim(obj: Mapping[str, Any]) -> Verdict:
    phase = _part(obj, "status").get("phase") or "Pending"
    return READY if phase == "Bound" else Verdict(False, f"{phase}, not Bound")


def pod(obj: Mapping[str, Any]) -> Verdict:
    phase = _part(obj, "status").get("phase") or "Pending"
    if phase == "Succeeded":
        return READY
    ready = _conditions(obj).get("Ready")
    if phase == "Running" and ready is not None and ready.get("status") == "True":
        return READY
    scheduled = _conditions(obj).get("PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return Verdict(False, f"{phase}, not scheduled: {_said(scheduled)}")
    return Verdict(False, f"{phase}, not Ready")


def needs_endpoints(obj: Mapping[str, Any]) -> bool:
    """A Service whose endpoints Kubernetes makes from a selector."""
    spec = _part(obj, "spec")
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


def ready_endpoints(endpoints: Sequence[Mapping[str, Any]]) -> int:
    """Ready addresses in a Service's EndpointSlices or Endpoints objects."""
    count = 0
    for e in endpoints:
        if e.get("kind") == "Endpoints" or "subsets" in e:
            subsets = e.get("subsets")
            for subset in subsets if isinstance(subsets, list) else []:
                count += len(subset.get("addresses") or [])
            continue
        listed = e.get("endpoints")
        for endpoint in listed if isinstance(listed, list) else []:
            conditions = endpoint.get("conditions") or {}
            count += conditions.get("ready") is not False  # unset means ready
    return count


def selects(selector: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether a Service's (equality) selector selects an object by its labels."""
    labels = _part(_part(obj, "metadata"), "labels")
    return all(labels.get(k) == v for k, v in selector.items())


def _selected_ready(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> int:
    selector = _part(_part(obj, "spec"), "selector")
    return sum(1 for p in pods if selects(selector, p) and pod(p).ready)


def service(
    obj: Mapping[str, Any],
    endpoints: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """`endpoints`: its EndpointSlices or Endpoints; `pods`: the Pods of its namespace."""
    if not needs_endpoints(obj):
        return READY
    if ready_endpoints(endpoints) or _selected_ready(obj, pods):
        return READY
    selector = _part(_part(obj, "spec"), "selector")
    shown = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return Verdict(False, f"no ready endpoints: no ready pod matches its selector {shown}")


def custom(obj: Mapping[str, Any]) -> Verdict:
    """Accepted: it reads back (the caller found it); no Ready/Available condition short
    of True."""
    conditions = _conditions(obj)
    for kind in _HELD_BACK:
        condition = conditions.get(kind)
        if condition is not None and condition.get("status") != "True":
            why = _said(condition)
            return Verdict(
                False, f"{kind} is {condition.get('status')}" + (f": {why}" if why else "")
            )
    return READY


def judge(
    group: str,
    kind: str,
    obj: Mapping[str, Any],
    endpoints: Sequence[Mapping[str, Any]] = (),
    pods: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """The verdict on one object of a watched kind (a Service's `endpoints`, and the
    `pods` of its namespace)."""
    key = (group, kind)
    if key == ("apps", "Deployment"):
        return deployment(obj)
    if key == ("apps", "StatefulSet"):
        return stateful_set(obj)
    if key == ("apps", "DaemonSet"):
        return daemon_set(obj)
    if key == ("batch", "Job"):
        return job(obj)
    if key == ("", "PersistentVolumeClaim"):
        return claim(obj)
    if key == ("", "Pod"):
        return pod(obj)
    if key == ("", "Service"):
        return service(obj, endpoints, pods)
    return custom(obj) if is_custom(group) else READY


def was_ready(
    group: str,
    kind: str,
    backed_up: Mapping[str, Any] | None,
    endpoints: Sequence[Mapping[str, Any]] | None = None,
    pods: Sequence[Mapping[str, Any]] | None = None,
) -> bool:
    """Whether the object was available when it was backed up, from its stored status.

    A Service's `endpoints` and the `pods` of its namespace are those the backup held;
    when it held neither, a Service with a selector is taken to have been ready. An
    object the backup does not hold counts as ready: restoring it is the point.
    """
    if backed_up is None:
        return True
    if (group, kind) == ("", "Service"):
        if (endpoints is None and pods is None) or not needs_endpoints(backed_up):
            return True
        return service(backed_up, endpoints or (), pods or ()).ready
    if not is_custom(group) and not _part(backed_up, "status"):
        # no status stored: a workload's rollout cannot be judged, assume it was fine
        return (group, kind) != ("batch", "Job")
    return judge(group, kind, backed_up).ready


def endpoints_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, service name) an EndpointSlice or Endpoints object belongs to."""
    meta = _part(obj, "metadata")
    namespace = str(meta.get("namespace") or "")
    if obj.get("kind") == "Endpoints":
        return namespace, str(meta.get("name") or "")
    name = _part(meta, "labels").get(SERVICE_NAME_LABEL)
    return (namespace, str(name)) if name else None


def makes_pods(group: str, kind: str) -> bool:
    return (group, kind) in (
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("batch", "Job"),
    )


def serves(service_obj: Mapping[str, Any], workload: Mapping[str, Any]) -> bool:
    """Whether a Service's selector selects the pods of a workload (its pod template)."""
    selector = _part(_part(service_obj, "spec"), "selector")
    template = _part(_part(workload, "spec"), "template")
    return bool(selector) and selects(selector, template)
