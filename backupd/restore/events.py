"""What the cluster's Events say about a workload that is not ready.

For a stuck workload: the Warning Events of the workload itself, of the ReplicaSets
it owns and of the Pods they own (quota exceeded, forbidden, PriorityClass not found,
FailedScheduling, image pull back-off), as one line each,
`ReplicaSet/web-5d8f: FailedCreate: <message>`, oldest first. One LIST each of Events,
ReplicaSets and Pods per namespace, never a GET per object.
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


def _owned_by(objects: Iterable[JSON], uids: set[str]) -> list[JSON]:
    owned = []
    for o in objects:
        owners = (o.get("metadata") or {}).get("ownerReferences") or []
        if any(ref.get("uid") in uids for ref in owners):
            owned.append(o)
    return owned


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
    found: list[list[str]] = []
    for obj in live:
        uids = {_uid(obj)}
        uids |= {_uid(o) for o in _owned_by(sets, uids)}
        uids |= {_uid(o) for o in _owned_by(pods, uids)}
        found.append(
            lines(e for e in warnings if (e.get("involvedObject") or {}).get("uid") in uids)
        )
    return found
