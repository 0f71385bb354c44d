"""Wait until restored workloads are available; say, per workload, ready or not and why.

The entry point (stable; `restore create --wait-ready` and the drill call it):

    wait_ready(kube, restored, *, timeout, cancel=NEVER, report=SILENT, poll=1.0)
        -> list[WorkloadReadiness]          (backupd.api.drill, one per `restored`, in order)

`restored` is a sequence of `Restored` (group, version, kind, resource, the target
namespace and name, and `was_ready`: whether it was available in the backup). Build
them with `Restored.of(...)` or, from a restore's item results, with `to_watch(results,
backed_up)` where `backed_up` (a `BackedUp`) kept the backup's objects as the archive was
read. The rules per kind are backupd.kinds.readiness (pure).

How it polls: one LIST per (type, namespace) that still has a workload not ready (and
one LIST of EndpointSlices per namespace with a Service waiting), never a GET per
object. It stops when every workload that was ready in the backup is ready, when
`timeout` seconds have passed, or when `cancel` is set. `report` hears
`progress(ready, total)` after each poll. For what is still not ready it reads the
namespace's Events once: those of the workload, its ReplicaSets and its Pods (quota
exceeded, forbidden, PriorityClass not found, FailedScheduling, image pull back-off),
into `events`, and the most telling one into the one-line `reason`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backupd.api.drill import WorkloadReadiness
from backupd.api.progress import NEVER, SILENT, Cancel, Reporter
from backupd.api.restore import ItemResult, Outcome
from backupd.archive.format import IndexEntry
from backupd.cluster.client import KubeClient
from backupd.errors import BackupdError, ClusterNotFound
from backupd.kinds import readiness as rules
from backupd.kinds.readiness import Verdict

JSON = dict[str, Any]
Key = tuple[str, str, str, str]  # group, resource, namespace ("" cluster-wide), name
_WAITED = frozenset({Outcome.created, Outcome.updated, Outcome.unchanged, Outcome.differs})
_REASON = 400  # characters of a one-line reason
_EVENTS = 8  # events kept per workload
# the events that say best why pods do not come, most telling first
_UNSEEN = Verdict(False, "not looked at yet")
_TELLING = ("FailedCreate", "FailedScheduling", "ErrImagePull", "ImagePullBackOff", "Failed")


@dataclass(frozen=True)
class Restored:
    """One restored object to wait for."""

    group: str
    version: str
    kind: str
    resource: str
    namespace: str | None
    name: str
    was_ready: bool = True

    @classmethod
    def of(
        cls,
        group: str,
        version: str,
        kind: str,
        resource: str,
        namespace: str | None,
        name: str,
        backed_up: Mapping[str, Any] | None = None,
        endpoints: Sequence[Mapping[str, Any]] | None = None,
    ) -> Restored:
        """`backed_up`: the object as the backup holds it (its status says whether it was
        ready); `endpoints`: for a Service, the Endpoints/EndpointSlices the backup held."""
        was = rules.was_ready(group, kind, backed_up, endpoints)
        return cls(group, version, kind, resource, namespace, name, was)

    def path(self) -> str:
        """The LIST path of its type in its namespace."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        where = f"/namespaces/{self.namespace}" if self.namespace else ""
        return f"{base}{where}/{self.resource}"


@dataclass
class BackedUp:
    """Keeps, from the backup's objects as they are read, those readiness needs: the
    watched kinds (their status) and the Endpoints/EndpointSlices of Services."""

    objects: dict[Key, JSON] = field(default_factory=dict)
    endpoints: dict[tuple[str, str], list[JSON]] = field(default_factory=dict)

    def keep(self, objects: Iterable[tuple[IndexEntry, JSON]]) -> Iterator[tuple[IndexEntry, JSON]]:
        for e, obj in objects:
            if rules.watched(e.group, e.kind):
                self.objects[(e.group, e.resource, e.namespace or "", e.name)] = obj
            elif (e.group, e.kind) in (("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice")):
                owner = rules.endpoints_of(obj)
                if owner is not None:
                    self.endpoints.setdefault(owner, []).append(obj)
            yield e, obj


def to_watch(results: Iterable[ItemResult], backed_up: BackedUp) -> list[Restored]:
    """The workloads among a restore's results that are in the target now."""
    watch: list[Restored] = []
    for r in results:
        if r.outcome not in _WAITED or not rules.watched(r.group, r.kind):
            continue
        source_ns = r.source_namespace or r.namespace or ""
        obj = backed_up.objects.get((r.group, r.resource, source_ns, r.name))
        endpoints = backed_up.endpoints.get((source_ns, r.name)) if r.kind == "Service" else None
        watch.append(
            Restored.of(r.group, r.version, r.kind, r.resource, r.namespace, r.name, obj, endpoints)
        )
    return watch


@dataclass
class _State:
    item: Restored
    verdict: Verdict = _UNSEEN
    live: JSON | None = None
    seconds: float | None = None


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _slices(kube: KubeClient, namespace: str) -> dict[str, list[JSON]]:
    """The namespace's EndpointSlices (or, where they are not served, Endpoints) by Service."""
    try:
        found = kube.get(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices")
    except ClusterNotFound:
        found = kube.get(f"/api/v1/namespaces/{namespace}/endpoints")
        return {_name(e): [{**e, "kind": "Endpoints"}] for e in found.get("items") or []}
    by_service: dict[str, list[JSON]] = {}
    for s in found.get("items") or []:
        owner = rules.endpoints_of({**s, "kind": "EndpointSlice"})
        if owner is not None:
            by_service.setdefault(owner[1], []).append(s)
    return by_service


def _poll(kube: KubeClient, waiting: list[_State], started: float) -> None:
    """One LIST per (type, namespace) with a workload waiting; update their verdicts."""
    groups: dict[str, list[_State]] = {}
    for s in waiting:
        groups.setdefault(s.item.path(), []).append(s)
    slices: dict[str, dict[str, list[JSON]]] = {}
    for path, states in groups.items():
        first = states[0].item
        try:
            listed = {_name(o): o for o in kube.get(path).get("items") or []}
        except ClusterNotFound:
            why = f"{first.resource}.{first.group} is not served (is its CRD restored?)"
            for s in states:
                s.verdict, s.live = Verdict(False, why), None
            continue
        except BackupdError as e:
            for s in states:
                s.verdict, s.live = Verdict(False, f"cannot read it: {e}"), None
            continue
        for s in states:
            s.live = listed.get(s.item.name)
            if s.live is None:
                s.verdict = Verdict(False, "not found in the target (deleted after the restore?)")
                continue
            endpoints: list[JSON] = []
            if (first.group, first.kind) == ("", "Service") and rules.needs_endpoints(s.live):
                ns = s.item.namespace or ""
                if ns not in slices:
                    slices[ns] = _slices(kube, ns)
                endpoints = slices[ns].get(s.item.name, [])
            s.verdict = rules.judge(first.group, first.kind, s.live, endpoints)
            if s.verdict.ready:
                s.seconds = round(time.monotonic() - started, 3)


def wait_ready(
    kube: KubeClient,
    restored: Sequence[Restored],
    *,
    timeout: float,
    cancel: Cancel = NEVER,
    report: Reporter = SILENT,
    poll: float = 1.0,
) -> list[WorkloadReadiness]:
    """Wait up to `timeout` seconds for `restored` to be available (see the module doc)."""
    started = time.monotonic()
    deadline = started + timeout
    states = [_State(r) for r in restored]
    while True:
        waiting = [s for s in states if not s.verdict.ready]
        if waiting:
            _poll(kube, waiting, started)
        report.progress(sum(s.verdict.ready for s in states), len(states))
        if all(s.verdict.ready for s in states if s.item.was_ready):
            break
        if cancel.is_set() or time.monotonic() >= deadline:
            break
        time.sleep(max(0.0, min(poll, deadline - time.monotonic())))
    stuck = [s for s in states if not s.verdict.ready]
    events = _events_of(kube, stuck)
    return [_result(s, events.get(id(s), [])) for s in states]


def _result(s: _State, events: list[str]) -> WorkloadReadiness:
    r = s.item
    reason = None if s.verdict.ready else (s.verdict.reason or "not ready")
    if reason is not None and events:
        telling = _most_telling(events)
        if telling.split(": ", 1)[-1] not in reason:
            reason = f"{reason}; {telling}"
    return WorkloadReadiness(
        kind=r.kind,
        namespace=r.namespace,
        name=r.name,
        ready=s.verdict.ready,
        was_ready=r.was_ready,
        reason=" ".join(reason.split())[:_REASON] if reason else None,
        events=events,
        seconds_to_ready=s.seconds,
    )


def _most_telling(events: list[str]) -> str:
    """`events` are `Kind/name: Reason: message`; the one that says most, newest first."""
    for wanted in _TELLING:
        for line in reversed(events):
            if line.split(": ", 2)[1:2] == [wanted]:
                return line
    return events[-1]


def _owned_by(objects: Iterable[JSON], uids: set[str]) -> list[JSON]:
    return [
        o
        for o in objects
        if any(
            ref.get("uid") in uids for ref in (o.get("metadata") or {}).get("ownerReferences") or []
        )
    ]


def _uid(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def _events_of(kube: KubeClient, stuck: list[_State]) -> dict[int, list[str]]:
    """Per stuck workload (by id of its state): the Warning Events of it, its
    ReplicaSets and its Pods, oldest first. One LIST each of Events, ReplicaSets and
    Pods per namespace; nothing when they cannot be read."""
    by_ns: dict[str, list[_State]] = {}
    for s in stuck:
        if s.live is not None and s.item.namespace:
            by_ns.setdefault(s.item.namespace, []).append(s)
    found: dict[int, list[str]] = {}
    for ns, states in by_ns.items():
        try:
            listed = kube.get(f"/api/v1/namespaces/{ns}/events").get("items") or []
            warnings = [e for e in listed if e.get("type") == "Warning"]
            if not warnings:
                continue
            sets = kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets").get("items") or []
            pods = kube.get(f"/api/v1/namespaces/{ns}/pods").get("items") or []
        except BackupdError:
            continue
        for s in states:
            uids = {_uid(s.live)}
            uids |= {_uid(o) for o in _owned_by(sets, uids)}
            uids |= {_uid(o) for o in _owned_by(pods, uids)}
            mine = sorted(
                (e for e in warnings if (e.get("involvedObject") or {}).get("uid") in uids),
                key=_when,
            )
            found[id(s)] = _lines(mine)
    return found


def _when(event: Mapping[str, Any]) -> str:
    meta = event.get("metadata") or {}
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or meta.get("creationTimestamp")
        or ""
    )


def _lines(events: list[JSON]) -> list[str]:
    """`ReplicaSet/web-5d8f: FailedCreate: <message>`, one per distinct message, newest last."""
    lines: list[str] = []
    for e in events:
        obj = e.get("involvedObject") or {}
        message = " ".join(str(e.get("message") or "").split())[:_REASON]
        line = f"{obj.get('kind')}/{obj.get('name')}: {e.get('reason') or 'Warning'}: {message}"
        if line in lines:
            lines.remove(line)
        lines.append(line)
    return lines[-_EVENTS:]
