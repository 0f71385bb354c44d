"""Server-side apply of whole manifests (what `kubectl apply --server-side` does), for
`backupctl install`. I/O through KubeClient only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from backupd.cluster import discovery
from backupd.cluster.client import JSON, KubeClient
from backupd.errors import ClusterNotFound, UserInputError

APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML
FIELD_MANAGER = "backupctl"


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    namespace: str | None
    action: str  # created or configured; in a dry run, what would be done

    def where(self) -> str:
        return f"{self.kind}/{self.name}" + (f" -n {self.namespace}" if self.namespace else "")


@dataclass(frozen=True)
class _Type:
    resource: str
    namespaced: bool


def _item_path(obj: JSON, types: dict[tuple[str, str], _Type]) -> tuple[str, str | None]:
    """(URL path of the object, its namespace or None)."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    t = types.get((group, kind))
    if t is None:
        raise UserInputError(f"the cluster does not serve {kind} ({api_version})")
    meta = obj.get("metadata") or {}
    name = quote(str(meta.get("name", "")), safe="")
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if not t.namespaced:
        return f"{base}/{t.resource}/{name}", None
    namespace = str(meta.get("namespace") or "default")
    return f"{base}/namespaces/{quote(namespace, safe='')}/{t.resource}/{name}", namespace


def apply(kube: KubeClient, objects: list[JSON], *, dry_run: bool = False) -> list[Applied]:
    """Apply `objects` in order; returns what was (in a dry run: would be) done.

    A dry run stores nothing, so an object in a namespace the same run creates cannot
    be checked by the server; it is reported so.
    """
    types = {
        (r.group, r.kind): _Type(r.resource, r.namespaced)
        for r in discovery.discover(kube).resources
    }
    params: dict[str, Any] = {"fieldManager": FIELD_MANAGER, "force": "true"}
    if dry_run:
        params["dryRun"] = "All"
    new_namespaces: set[str] = set()
    done: list[Applied] = []
    for obj in objects:
        path, namespace = _item_path(obj, types)
        applied = Applied(str(obj["kind"]), str(obj["metadata"]["name"]), namespace, "configured")
        if dry_run and namespace in new_namespaces:
            done.append(replace(applied, action="created (new namespace: not checked)"))
            continue
        try:
            kube.get(path)
        except ClusterNotFound:
            applied = replace(applied, action="created")
            if applied.kind == "Namespace":
                new_namespaces.add(applied.name)
        kube.request("PATCH", path, body=obj, content_type=APPLY_PATCH, params=params)
        done.append(applied)
    return done
