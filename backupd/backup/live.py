"""The live cluster's side of `backup diff NAME --live`: the objects the backup's own
spec selects now ("what changed since last night").

Namespaced objects: every backupable type the backup's resource filters take, in the
namespaces its namespace filters match today, with its label selector, as a backup
taken now would list them. Cluster-scoped objects: those of the backup's
cluster-scoped types, by name the ones it holds (all of them when it took every
cluster-scoped object, `--include-cluster-resources=true`). Each object is shaped as
the backup stores it (apiVersion and kind set, managedFields dropped).
"""

from __future__ import annotations

from collections.abc import Iterable

from backupd.api.backup import Backup, ClusterResources
from backupd.archive.format import IndexEntry
from backupd.backup.engine import validate_spec
from backupd.backup.inspect import ItemRef
from backupd.backup.pages import list_jobs
from backupd.backup.selection import backupable
from backupd.cluster import discovery
from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.cluster.listing import list_pages

Objects = dict[tuple[str, str, str, str], tuple[ItemRef, JSON]]


def _shaped(res: ApiResource, item: JSON) -> tuple[ItemRef, JSON]:
    meta = item.get("metadata") or {}
    meta.pop("managedFields", None)
    item["apiVersion"], item["kind"] = res.api_version, res.kind
    namespace = meta.get("namespace") if res.namespaced else None
    ref = ItemRef(res.group, res.version, res.kind, res.resource, namespace, meta["name"])
    return ref, item


def _listed(
    kube: KubeClient, res: ApiResource, namespace: str | None, selector: str | None
) -> Iterable[JSON]:
    for items, _ in list_pages(kube, res, namespace=namespace, label_selector=selector):
        yield from items


def live_objects(kube: KubeClient, backup: Backup, entries: list[IndexEntry]) -> Objects:
    """The objects a backup with `backup`'s spec would take from the cluster now."""
    ns_filter, res_filter, selector = validate_spec(backup.spec)
    resources, _ = backupable(discovery.discover(kube).resources)
    namespaces = {
        n["metadata"]["name"]: n
        for n in kube.get("/api/v1/namespaces")["items"]
        if ns_filter.matches(n["metadata"]["name"])
    }
    out: Objects = {}

    def keep(res: ApiResource, item: JSON) -> None:
        ref, obj = _shaped(res, item)
        out[ref.key] = (ref, obj)

    chosen = [r for r in resources if r.namespaced and res_filter.matches(r)]
    literal = ns_filter.literal_names
    for job in list_jobs(chosen, literal) if namespaces else []:
        for item in _listed(kube, job.resource, job.namespace, selector):
            if (item.get("metadata") or {}).get("namespace") in namespaces:
                keep(job.resource, item)
    by_gr = {r.group_resource: r for r in resources}
    for namespace in namespaces.values():
        keep(by_gr["namespaces"], dict(namespace))
    held: dict[tuple[str, str], set[str]] = {}
    for e in entries:
        if e.namespace is None:
            held.setdefault((e.group, e.resource), set()).add(e.name)
    every = backup.spec.include_cluster_resources is ClusterResources.true
    for res in resources:
        if res.namespaced or res.resource == "namespaces":
            continue
        names = held.get((res.group, res.resource))
        if every and res_filter.matches(res):
            for item in _listed(kube, res, None, selector):
                keep(res, item)
        elif names:
            for item in _listed(kube, res, None, None):
                if item["metadata"]["name"] in names:
                    keep(res, item)
    return out
