"""Wait until restored workloads are available; say, per workload, ready or not and why.

The entry point (stable; `restore create --wait-ready` and the drill call it):

    wait_ready(kube, restored, *, timeout, cancel=NEVER, report=SILENT, poll=1.0)
        -> list[WorkloadReadiness]          (backupd.api.drill, one per `restored`, in order)

`restored` is a sequence of `Restored` (group, version, kind, resource, the target
namespace and name, and `was_ready`: whether it was available in the backup). Build
them with `Restored.of(...)` or, from a restore's item results, with `to_watch(results,
backed_up)` where `backed_up` (a `BackedUp`) kept the backup's objects as the archive was
read. The rules per kind are backupd.kinds.readiness (pure). Within a restore, set
RestoreSpec.wait_ready instead: the engine waits and records the result in
RestoreStatus.workloads (PartiallyFailed when one that was ready is not); RestoreRun.
workloads is the list it waited for.

How it polls: one LIST per (type, namespace) that still has a workload not ready (one
across namespaces when a type waits in more than MANY_NAMESPACES), and for a Service
waiting the EndpointSlices (and, without ready endpoints, the Pods) of its namespace;
never a GET per object. Polls start `poll` seconds apart and space out to MAX_POLL.
It stops when every workload that was ready in the backup is ready, when `timeout`
seconds have passed, or when `cancel` is set; nothing it reads ends it with an error
(what cannot be read is not ready, and says why). `report` hears `progress(ready,
total)` after each poll. For what is still not ready it reads each namespace's Events
once (backupd.restore.events): those of the workload, its ReplicaSets and its Pods
(quota exceeded, forbidden, PriorityClass not found, FailedScheduling, image pull
back-off), into `events`, and the most telling one into the one-line `reason`.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backupd.api.common import Phase
from backupd.api.drill import WorkloadReadiness
from backupd.api.progress import NEVER, SILENT, Cancel, Reporter
from backupd.api.restore import ItemIssue, ItemResult, Outcome, RestoreStatus
from backupd.archive.format import IndexEntry
from backupd.cluster.client import KubeClient
from backupd.errors import BackupdError, ClusterForbidden, ClusterNotFound
from backupd.kinds import readiness as rules
from backupd.kinds.naming import resource_dir
from backupd.kinds.readiness import Verdict
from backupd.restore import events

JSON = dict[str, Any]
Key = tuple[str, str, str, str]  # group, resource, namespace ("" cluster-wide), name
_WAITED = frozenset({Outcome.created, Outcome.updated, Outcome.unchanged, Outcome.differs})
_REASON = 400  # characters of a one-line reason
MANY_NAMESPACES = 5  # more namespaces of one type waiting: one LIST across namespaces
MAX_POLL = 5.0  # seconds between polls, at most (the interval grows from `poll`)
_UNSEEN = Verdict(False, "not looked at yet")


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
        pods: Sequence[Mapping[str, Any]] | None = None,
    ) -> Restored:
        """`backed_up`: the object as the backup holds it (its status says whether it was
        ready); for a Service, the Endpoints/EndpointSlices (`endpoints`) and the Pods of
        its namespace (`pods`) the backup held."""
        was = rules.was_ready(group, kind, backed_up, endpoints, pods)
        return cls(group, version, kind, resource, namespace, name, was)

    def path(self, namespace: str | None = "") -> str:
        """The LIST path of its type in its namespace ("", the default), in `namespace`,
        or (None) across namespaces."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        namespace = self.namespace if namespace == "" else namespace
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{base}{where}/{self.resource}"


@dataclass
class BackedUp:
    """Keeps, from the backup's objects as they are read, what readiness needs of them
    (a slim copy: no pod template, no annotations): the watched kinds, the Pods by
    namespace and the Endpoints/EndpointSlices of Services."""

    objects: dict[Key, JSON] = field(default_factory=dict)
    endpoints: dict[tuple[str, str], list[JSON]] = field(default_factory=dict)
    pods: dict[str, list[JSON]] = field(default_factory=dict)

    def keep(self, objects: Iterable[tuple[IndexEntry, JSON]]) -> Iterator[tuple[IndexEntry, JSON]]:
        for e, obj in objects:
            if (e.group, e.kind) == ("", "Pod"):
                self.pods.setdefault(e.namespace or "", []).append(_slim(obj))
            if rules.watched(e.group, e.kind):
                self.objects[(e.group, e.resource, e.namespace or "", e.name)] = _slim(obj)
            elif (e.group, e.kind) in (("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice")):
                owner = rules.endpoints_of(obj)
                if owner is not None:
                    self.endpoints.setdefault(owner, []).append(obj)
            yield e, obj


def _slim(obj: JSON) -> JSON:
    """What the rules read: labels, generation, spec without the pod template, status."""
    meta = obj.get("metadata") or {}
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k not in ("template", "containers")}
    kept = ("name", "namespace", "generation", "labels")
    return {
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in kept if k in meta},
        "spec": spec,
        "status": obj.get("status") or {},
    }


def to_watch(results: Iterable[ItemResult], backed_up: BackedUp) -> list[Restored]:
    """The workloads among a restore's results that are in the target now."""
    watch: list[Restored] = []
    for r in results:
        if r.outcome not in _WAITED or not rules.watched(r.group, r.kind):
            continue
        source_ns = r.source_namespace or r.namespace or ""
        obj = backed_up.objects.get((r.group, r.resource, source_ns, r.name))
        endpoints = pods = None
        if (r.group, r.kind) == ("", "Service"):
            endpoints = backed_up.endpoints.get((source_ns, r.name))
            pods = backed_up.pods.get(source_ns)
        watch.append(
            Restored.of(
                r.group, r.version, r.kind, r.resource, r.namespace, r.name, obj, endpoints, pods
            )
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


def _listed(kube: KubeClient, paths: list[str]) -> dict[tuple[str, str], JSON]:
    found: dict[tuple[str, str], JSON] = {}
    for path in paths:
        for o in kube.get(path).get("items") or []:
            meta = o.get("metadata") or {}
            found[(str(meta.get("namespace") or ""), str(meta.get("name") or ""))] = o
    return found


def _read(kube: KubeClient, states: list[_State]) -> dict[tuple[str, str], JSON] | str:
    """The live objects of one type by (namespace, name): one LIST per namespace, or
    one across namespaces when they are many (per namespace again if that is
    forbidden). A string says why they cannot be read."""
    first = states[0].item
    namespaces = sorted({s.item.namespace or "" for s in states})
    paths = [first.path(ns or None) for ns in namespaces]
    try:
        if len(paths) > MANY_NAMESPACES:
            try:
                return _listed(kube, [first.path(None)])
            except ClusterForbidden:
                pass  # allowed namespace by namespace only
        return _listed(kube, paths)
    except ClusterNotFound:
        return f"{resource_dir(first.resource, first.group)} is not served (is its CRD restored?)"
    except BackupdError as e:
        return f"cannot read it: {e}"


class _Around:
    """The EndpointSlices and Pods of a namespace, each read once per poll ([] when
    they cannot be read: the Service then waits on)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.slices: dict[str, dict[str, list[JSON]]] = {}
        self.pods: dict[str, list[JSON]] = {}

    def endpoints(self, namespace: str, service: str) -> list[JSON]:
        if namespace not in self.slices:
            try:
                self.slices[namespace] = _slices(self.kube, namespace)
            except BackupdError:
                self.slices[namespace] = {}
        return self.slices[namespace].get(service, [])

    def pods_of(self, namespace: str) -> list[JSON]:
        if namespace not in self.pods:
            try:
                got = self.kube.get(f"/api/v1/namespaces/{namespace}/pods").get("items") or []
            except BackupdError:
                got = []
            self.pods[namespace] = got
        return self.pods[namespace]


def _poll(kube: KubeClient, waiting: list[_State], started: float) -> None:
    """Read what is waiting, type by type (see _read); update the verdicts."""
    by_type: dict[tuple[str, str, str], list[_State]] = {}
    for s in waiting:
        by_type.setdefault((s.item.group, s.item.version, s.item.resource), []).append(s)
    around = _Around(kube)
    for states in by_type.values():
        found = _read(kube, states)
        for s in states:
            r = s.item
            if isinstance(found, str):
                s.verdict, s.live = Verdict(False, found), None
                continue
            s.live = found.get((r.namespace or "", r.name))
            if s.live is None:
                s.verdict = Verdict(False, "not found in the target (deleted after the restore?)")
                continue
            endpoints: list[JSON] = []
            pods: list[JSON] = []
            if (r.group, r.kind) == ("", "Service") and rules.needs_endpoints(s.live):
                endpoints = around.endpoints(r.namespace or "", r.name)
                if not rules.ready_endpoints(endpoints):
                    pods = around.pods_of(r.namespace or "")
            s.verdict = rules.judge(r.group, r.kind, s.live, endpoints, pods)
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
    delay = poll
    while True:
        waiting = [s for s in states if not s.verdict.ready]
        if waiting:
            _poll(kube, waiting, started)
        report.progress(sum(s.verdict.ready for s in states), len(states))
        if all(s.verdict.ready for s in states if s.item.was_ready):
            break
        if cancel.is_set() or time.monotonic() >= deadline:
            break
        time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
        delay = min(delay * 1.5, max(poll, MAX_POLL))
    stuck = [s for s in states if not s.verdict.ready]
    found = _events_of(kube, stuck)
    _blocked(stuck)
    return [_result(s, found.get(id(s), [])) for s in states]


def _events_of(kube: KubeClient, stuck: list[_State]) -> dict[int, list[str]]:
    """Per stuck workload (by id of its state): the Warning Events about it."""
    by_ns: dict[str, list[_State]] = {}
    for s in stuck:
        if s.live is not None and s.item.namespace:
            by_ns.setdefault(s.item.namespace, []).append(s)
    found: dict[int, list[str]] = {}
    for ns, states in by_ns.items():
        lines = events.of_workloads(kube, ns, [s.live for s in states if s.live is not None])
        found.update((id(s), ln) for s, ln in zip(states, lines, strict=True))
    return found


def _blocked(stuck: list[_State]) -> None:
    """A Service without endpoints says which stuck workload its pods come from."""
    makers = [
        s for s in stuck if s.live is not None and rules.makes_pods(s.item.group, s.item.kind)
    ]
    for s in stuck:
        if (s.item.group, s.item.kind) != ("", "Service") or s.live is None:
            continue
        blocking = [
            f"{m.item.kind} {m.item.name}"
            for m in makers
            if m.item.namespace == s.item.namespace and rules.serves(s.live, m.live or {})
        ]
        if blocking:
            why = f"{s.verdict.reason}; its pods come from {', '.join(blocking)}, not ready"
            s.verdict = Verdict(False, why)


def _result(s: _State, said: list[str]) -> WorkloadReadiness:
    r = s.item
    reason = None if s.verdict.ready else (s.verdict.reason or "not ready")
    if reason is not None and said:
        telling = events.most_telling(said)
        if events.gist(telling) not in reason:
            reason = f"{reason}; {telling}"
    return WorkloadReadiness(
        kind=r.kind,
        namespace=r.namespace,
        name=r.name,
        ready=s.verdict.ready,
        was_ready=r.was_ready,
        reason=" ".join(reason.split())[:_REASON] if reason else None,
        events=said,
        seconds_to_ready=s.seconds,
    )


def record(status: RestoreStatus, workloads: list[WorkloadReadiness]) -> None:
    """The workloads into a restore's status. One that was ready in the backup and is
    not now is an error naming it and why (and the restore is PartiallyFailed); one that
    was not ready there either is a warning."""
    status.workloads = workloads
    for w in workloads:
        if w.ready:
            continue
        issue = ItemIssue(
            message=f"not ready: {w.reason or 'not ready'}",
            resource=w.kind.lower(),
            namespace=w.namespace,
            name=w.name,
        )
        if not w.was_ready:
            issue.message += " (it was not ready in the backup either)"
            status.warnings.append(issue)
            continue
        status.errors.append(issue)
        if status.phase is Phase.completed:
            status.phase = Phase.partially_failed


def log_line(w: WorkloadReadiness, at: datetime.datetime) -> str:
    """The restore log's line for one workload."""
    where = "/".join(p for p in (w.kind.lower(), w.namespace, w.name) if p)
    if w.ready:
        return f"{at.isoformat()} info {where} ready after {w.seconds_to_ready or 0:.1f}s"
    level = "error" if w.was_ready else "warning"
    events = "".join(f"; event {e}" for e in w.events)
    return f"{at.isoformat()} {level} {where} not ready: {w.reason}{events}"
