"""The controller's custom resources and Events, through our KubeClient.

One namespace (the controller's) holds every Backup, Restore, Schedule and
StorageLocation, as Velero's namespace does. Status goes through the status
subresource as a JSON merge patch; Events are core/v1 Events.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any
from urllib.parse import quote

from backupd.api import GROUP, VERSION
from backupd.api.common import now
from backupd.api.crds import KINDS, crd
from backupd.cluster.client import JSON, KubeClient
from backupd.errors import BackupdError, ClusterConflict, ClusterNotFound, SandboxError

log = logging.getLogger(__name__)

MERGE = "application/merge-patch+json"
KIND_OF = {k.plural: k.kind for k in KINDS}


def stamp(at: datetime.datetime | None = None) -> str:
    """`at` (default now) in UTC, as the status timestamps spell it (…Z)."""
    return (at or now()).astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def parse_stamp(text: object) -> datetime.datetime | None:
    """A status or metadata timestamp (…Z) read back; None for none."""
    if not isinstance(text, str) or not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# set on a Backup imported from a location by catalog sync: it ran elsewhere, never here
IMPORTED = "backupd.io/imported-from"
# set on a Backup whose deletion from its location failed (e.g. under retention lock)
DELETION_PENDING = "backupd.io/deletion-pending"


class Resources:
    """Our custom resources in one namespace."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    def path(self, plural: str, name: str | None = None, *, status: bool = False) -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{plural}"
        if name is None:
            return base
        return f"{base}/{quote(name, safe='')}" + ("/status" if status else "")

    def list(self, plural: str, label_selector: str | None = None) -> list[JSON]:
        params = {"labelSelector": label_selector} if label_selector else {}
        items: list[JSON] = self.kube.get(self.path(plural), **params).get("items", [])
        return items

    def get(self, plural: str, name: str) -> JSON | None:
        try:
            return self.kube.get(self.path(plural, name))
        except ClusterNotFound:
            return None

    def create(self, plural: str, body: JSON) -> JSON:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND_OF[plural], **body}
        return self.kube.post(self.path(plural), body)

    def patch_status(self, plural: str, name: str, status: dict[str, Any]) -> JSON:
        return self.kube.request(
            "PATCH",
            self.path(plural, name, status=True),
            body={"status": status},
            content_type=MERGE,
        )

    def patch(self, plural: str, name: str, patch: JSON) -> JSON:
        return self.kube.request("PATCH", self.path(plural, name), body=patch, content_type=MERGE)

    def delete(self, plural: str, name: str) -> bool:
        """True if it was deleted, False if it was already gone."""
        try:
            self.kube.delete(self.path(plural, name))
        except ClusterNotFound:
            return False
        return True

    def event(self, obj: JSON, reason: str, message: str, *, warning: bool = False) -> None:
        """Record a Kubernetes Event on `obj` (best effort: an Event is never worth a failure)."""
        meta = obj.get("metadata", {})
        when = stamp()
        body = {
            "metadata": {
                "generateName": f"{meta.get('name', 'backupd')}.",
                "namespace": self.namespace,
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", f"{GROUP}/{VERSION}"),
                "kind": obj.get("kind", ""),
                "name": meta.get("name", ""),
                "namespace": self.namespace,
                "uid": meta.get("uid", ""),
            },
            "reason": reason,
            "message": message[:1000],
            "type": "Warning" if warning else "Normal",
            "source": {"component": "backupd"},
            "firstTimestamp": when,
            "lastTimestamp": when,
            "count": 1,
        }
        try:
            self.kube.post(f"/api/v1/namespaces/{self.namespace}/events", body)
        except BackupdError as e:
            log.warning("event %s on %s not recorded: %s", reason, meta.get("name"), e)


def phase_of(obj: JSON) -> str:
    return str((obj.get("status") or {}).get("phase") or "New")


def labels_of(obj: JSON) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def annotations_of(obj: JSON) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def ensure_crds(kube: KubeClient, timeout: float = 60.0) -> None:
    """Create (or update) the four CRDs and wait until they are served."""
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for kind in KINDS:
        body = crd(kind)
        name = body["metadata"]["name"]
        try:
            kube.post(base, body)
        except ClusterConflict:
            current = kube.get(f"{base}/{name}")
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            kube.put(f"{base}/{name}", body)
    deadline = time.monotonic() + timeout

    def served() -> bool:
        for kind in KINDS:
            status = kube.get(f"{base}/{kind.plural}.{GROUP}").get("status") or {}
            conditions = status.get("conditions") or []  # null until the first check
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return False
        try:  # discovery lags Established a little: kopf finds resources through it
            listed = kube.get(f"/apis/{GROUP}/{VERSION}").get("resources") or []
        except ClusterNotFound:
            return False
        names = {r.get("name") for r in listed}
        return all({k.plural, f"{k.plural}/status"} <= names for k in KINDS)

    while not served():
        if time.monotonic() > deadline:
            raise SandboxError(f"the {GROUP} CRDs were not served within {timeout:.0f}s")
        time.sleep(0.2)
