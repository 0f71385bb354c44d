"""What the cluster's Events say about a workload that is not ready.

For a stuck workload: the Warning Events of the workload itself, of the ReplicaSets
it owns and of the Pods they own (quota exceeded, forbidden, PriorityClass not found,
FailedScheduling, image pull back-off), as one line each,
`ReplicaSet/web-5d8f: FailedCreate: <message>`, oldest first. One LIST each of Events,
ReplicaSets and Pods per namespace, never a GET per object, indexed once by owner and
involved object so that many stuck workloads cost no more than one pass each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from backupd.cluster.client import KubeClient
from backupd.errors import BackupdError

JSON = dict[str, Any]
MESSAGE = 400  # characters of one event's message
KEPT = 8  # lines kept per workload
# the events that say best why pods do not come, most telling first
TELLING = ("FailedCreate", "FailedScheduling", "ErrImagePull", "ImagePullBackOff", "Failed")


def most_telling(lines: Sequence[str]) -> str:
    """The line that says most about why pods do not come (newest of its reason)."""
    for wanted in TELLING:
        for line in reversed(lines):
            if line.split(": ", 2)[1:2] == [wanted]:
                return line
    return lines[-1]


def gist(line: str) -> str:
    """What an event line says, without who said it and a controller's preamble:
    `ReplicaSet/x: FailedCreate: Error creating: pods "x-" is forbidden: ...` ->
    `pods "x-" is forbidden: ...` (what a condition of the workload repeats)."""
    message = line.split(": ", 2)[-1]
    return message.removeprefix("Error creating: ")


def _uid(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def _children(objects: Iterable[JSON]) -> dict[str, list[str]]:
    """Owner uid -> the uids of the objects it owns (an object may have several owners)."""
    out: dict[str, list[str]] = {}
    for o in objects:
        for ref in (o.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("uid"):
                out.setdefault(str(ref["uid"]), []).append(_uid(o))
    return out


def _when(event: Mapping[str, Any]) -> str:
    meta = event.get("metadata") or {}
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or meta.get("creationTimestamp")
        or ""
    )


def lines(events: Iterable[JSON]) -> list[str]:
    """One line per distinct event (the newest place of a repeated one), oldest first."""
    out: list[str] = []
    for e in sorted(events, key=_when):
        obj = e.get("involvedObject") or {}
        message = " ".join(str(e.get("message") or "").split())[:MESSAGE]
        line = f"{obj.get('kind')}/{obj.get('name')}: {e.get('reason') or 'Warning'}: {message}"
        if line in out:
            out.remove(line)
        out.append(line)
    return out[-KEPT:]


def of_workloads(kube: KubeClient, namespace: str, live: Sequence[JSON]) -> list[list[str]]:
    """For each of `live` (objects of `namespace`), its Warning Events and those of what
    it owns; [] for each when the Events cannot be read."""
    try:
        listed = kube.get(f"/api/v1/namespaces/{namespace}/events").get("items") or []
        warnings = [e for e in listed if e.get("type") == "Warning"]
        if not warnings:
            return [[] for _ in live]
        sets = kube.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets").get("items") or []
        pods = kube.get(f"/api/v1/namespaces/{namespace}/pods").get("items") or []
    except BackupdError:
        return [[] for _ in live]
    sets_of, pods_of = _children(sets), _children(pods)
    by_uid: dict[str, list[JSON]] = {}
    for e in warnings:
        by_uid.setdefault(str((e.get("involvedObject") or {}).get("uid") or ""), []).append(e)
    found: list[list[str]] = []
    for obj in live:
        uids = {_uid(obj)}
        uids.update(u for owner in list(uids) for u in sets_of.get(owner, ()))
        uids.update(u for owner in list(uids) for u in pods_of.get(owner, ()))
        found.append(lines(e for u in uids if u for e in by_uid.get(u, ())))
    return found
