"""Discovery: every served API resource, in its group's preferred version."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import quote

from backupd.errors import ClusterError
from backupd.kinds.naming import resource_dir
from backupd.kinds.spellings import TypeName

if TYPE_CHECKING:  # annotations only: ApiResource is needed by commands that never connect
    from backupd.cluster.client import JSON, KubeClient


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    resource: str  # plural, e.g. "deployments"
    kind: str
    namespaced: bool
    verbs: frozenset[str]
    short_names: tuple[str, ...] = ()  # e.g. ("deploy",)
    singular: str = ""  # e.g. "deployment"; empty when the server does not say

    @property
    def type_name(self) -> TypeName:
        """The type and every name a user may give it (see backupd.kinds.spellings)."""
        return TypeName(self.group, self.resource, self.kind, self.singular, self.short_names)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @cached_property
    def group_resource(self) -> str:
        """`deployments.apps`, or `configmaps` for the core group (asked per item)."""
        return resource_dir(self.resource, self.group)

    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection (or item) URL path; namespace is ignored for cluster-scoped types."""
        parts = [self.base_path()]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.resource)
        if name is not None:
            parts.append(quote(name, safe=""))
        return "/".join(parts)


@dataclass(frozen=True)
class DiscoveryResult:
    resources: list[ApiResource]
    # group/version lists that failed (e.g. an unavailable aggregated API), with reasons
    failed_groups: dict[str, str]

    def by_group_resource(self) -> dict[str, ApiResource]:
        return {r.group_resource: r for r in self.resources}

    def by_kind(self) -> dict[tuple[str, str], ApiResource]:
        """(group, kind) -> resource."""
        return {(r.group, r.kind): r for r in self.resources}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _resources(doc: JSON, group: str, version: str) -> list[ApiResource]:
    out = []
    for r in doc.get("resources", []):
        if "/" in r["name"]:  # subresources such as deployments/scale
            continue
        out.append(
            ApiResource(
                group=group,
                version=version,
                resource=r["name"],
                kind=r["kind"],
                namespaced=bool(r.get("namespaced")),
                verbs=frozenset(r.get("verbs", [])),
                short_names=_strings(r.get("shortNames")),
                singular=str(r.get("singularName") or ""),
            )
        )
    return out


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


def _aggregated(kube: KubeClient) -> DiscoveryResult | None:
    """Discovery in two concurrent requests (/api and /apis, aggregated form), or None
    if unserved."""
    resources: list[ApiResource] = []
    failed: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        apis = pool.submit(kube.request, "GET", "/apis", accept=AGGREGATED)
        docs = [kube.request("GET", "/api", accept=AGGREGATED), apis.result()]
    for doc in docs:
        if doc.get("kind") != "APIGroupDiscoveryList":
            return None
        for group in doc.get("items", []):
            name = (group.get("metadata") or {}).get("name", "")
            versions = group.get("versions") or []
            if not versions:
                continue
            preferred = versions[0]  # the server lists versions in preference order
            if preferred.get("freshness") == "Stale":
                failed[f"{name}/{preferred['version']}" if name else preferred["version"]] = "stale"
            for r in preferred.get("resources", []):
                kind = (r.get("responseKind") or {}).get("kind", "")
                resources.append(
                    ApiResource(
                        group=name,
                        version=preferred["version"],
                        resource=r["resource"],
                        kind=kind,
                        namespaced=r.get("scope") == "Namespaced",
                        verbs=frozenset(r.get("verbs", [])),
                        short_names=_strings(r.get("shortNames")),
                        singular=str(r.get("singularResource") or ""),
                    )
                )
    return DiscoveryResult(resources=resources, failed_groups=failed)


def discover(kube: KubeClient) -> DiscoveryResult:
    """All top-level resources of the preferred version of every group."""
    aggregated = _aggregated(kube)
    if aggregated is not None:
        return aggregated
    return _discover_per_group(kube)


def _discover_per_group(kube: KubeClient) -> DiscoveryResult:
    """Discovery the old way: one request per group version (servers before 1.30)."""
    targets: list[tuple[str, str]] = [("", v) for v in kube.get("/api").get("versions", ["v1"])[:1]]
    for g in kube.get("/apis").get("groups", []):
        preferred = g.get("preferredVersion", {}).get("version") or g["versions"][0]["version"]
        targets.append((g["name"], preferred))

    def fetch(target: tuple[str, str]) -> tuple[str, str, JSON | str]:
        group, version = target
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            return group, version, kube.get(path)
        except ClusterError as e:
            return group, version, str(e)

    resources: list[ApiResource] = []
    failed: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for group, version, doc in pool.map(fetch, targets):
            if isinstance(doc, str):
                failed[f"{group}/{version}" if group else version] = doc
            else:
                resources.extend(_resources(doc, group, version))
    return DiscoveryResult(resources=resources, failed_groups=failed)


def server_version(kube: KubeClient) -> str:
    return str(kube.get("/version").get("gitVersion", ""))


def cluster_id(kube: KubeClient) -> str:
    """The kube-system namespace's UID: stable for a cluster's lifetime."""
    return str(kube.get("/api/v1/namespaces/kube-system").get("metadata", {}).get("uid", ""))
