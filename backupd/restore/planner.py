"""From a backup's index, its objects and a RestoreSpec: what to do with each item. Pure.

Two steps, because reading objects is the expensive part:

1. `select_entries(entries, spec)` works on the index alone: the items the filters
   select, the cluster-scoped items they may depend on (Namespaces, CRDs, PVs,
   StorageClasses), and the items of types that are never restored.
2. `plan(objects, selection, spec)` applies the label selector, pulls in the
   dependencies the selected objects refer to, runs the per-kind actions, and
   orders everything in tiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from backupd.api.backup import ClusterResources
from backupd.api.restore import RestoreSpec
from backupd.archive.format import IndexEntry, item_where, resource_dir
from backupd.restore.actions import Context, transform
from backupd.restore.filters import (
    NEVER_RESTORED,
    ItemPattern,
    LabelTest,
    namespace_matches,
    parse_selector,
    resource_matches,
)
from backupd.restore.ordering import in_tiers, is_builtin_group, tier_of

JSON = dict[str, Any]
Key = tuple[str, str, str, str]
_DEPENDENCY_TYPES = frozenset(
    {
        ("", "namespaces"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("", "persistentvolumes"),
        ("storage.k8s.io", "storageclasses"),
    }
)


@dataclass(frozen=True)
class ItemRef:
    group: str
    version: str
    kind: str
    resource: str
    namespace: str | None
    name: str

    @classmethod
    def of(cls, e: IndexEntry) -> ItemRef:
        return cls(e.group, e.version, e.kind, e.resource, e.namespace, e.name)

    @property
    def group_resource(self) -> str:
        return resource_dir(self.resource, self.group)

    def where(self) -> str:
        return item_where(self.group_resource, self.namespace, self.name)


@dataclass
class PlannedItem:
    ref: ItemRef  # where it goes in the target (namespace mapped)
    source: ItemRef  # where it was in the backup
    tier: int
    obj: JSON | None  # the object to apply; None when skipped
    skip_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def sort_key(self) -> tuple[str, ...]:
        return (self.ref.group_resource, self.ref.namespace or "", self.ref.name)


@dataclass
class Plan:
    items: list[PlannedItem]
    warnings: list[str] = field(default_factory=list)

    def tiers(self) -> list[tuple[int, list[PlannedItem]]]:
        return in_tiers(self.items)

    @property
    def to_apply(self) -> list[PlannedItem]:
        return [i for i in self.items if i.obj is not None]


@dataclass
class Selection:
    direct: list[IndexEntry] = field(default_factory=list)
    dependencies: list[IndexEntry] = field(default_factory=list)
    never: list[IndexEntry] = field(default_factory=list)

    def to_read(self) -> list[IndexEntry]:
        return self.direct + self.dependencies


def _all_cluster_resources(spec: RestoreSpec) -> bool:
    mode = spec.include_cluster_resources
    if mode is ClusterResources.auto:
        return (
            spec.included_namespaces == ["*"]
            and not spec.excluded_namespaces
            and not spec.include_items
        )
    return mode is ClusterResources.true


def _dependency(e: IndexEntry, spec: RestoreSpec) -> bool:
    """A cluster-scoped item that selected items may need (decided with the objects)."""
    if e.namespace is not None or (e.group, e.resource) not in _DEPENDENCY_TYPES:
        return False
    return e.resource == "namespaces" or (
        spec.include_cluster_resources is not ClusterResources.false
    )


def select_entries(entries: Iterable[IndexEntry], spec: RestoreSpec) -> Selection:
    """Filter the index by namespaces, resources and items (no object is needed)."""
    items = [ItemPattern.parse(t) for t in spec.include_items]
    all_cluster = _all_cluster_resources(spec)
    selection = Selection()
    for e in entries:
        wanted = resource_matches(
            spec.included_resources, e.group, e.resource, e.kind
        ) and not resource_matches(spec.excluded_resources, e.group, e.resource, e.kind)
        if items and not any(p.matches(e.group, e.resource, e.kind, e.name) for p in items):
            wanted = False
        if e.namespace:
            wanted = (
                wanted
                and namespace_matches(spec.included_namespaces, e.namespace)
                and not namespace_matches(spec.excluded_namespaces, e.namespace)
            )
        elif not all_cluster and not items:
            wanted = False
        if wanted:
            (selection.never if e.group_resource in NEVER_RESTORED else selection.direct).append(e)
        elif _dependency(e, spec):
            selection.dependencies.append(e)
    return selection


def _labels(obj: JSON) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _storage_classes(obj: JSON) -> set[str]:
    spec = obj.get("spec") or {}
    names = {spec.get("storageClassName")}
    for t in spec.get("volumeClaimTemplates") or []:
        names.add((t.get("spec") or {}).get("storageClassName"))
    return {n for n in names if isinstance(n, str) and n}


def _needed(chosen: dict[Key, tuple[IndexEntry, JSON]]) -> tuple[set[str], set[str], set[str]]:
    """Namespaces, CRD names and PV names the chosen objects use."""
    namespaces: set[str] = set()
    crds: set[str] = set()
    pvs: set[str] = set()
    for e, obj in chosen.values():
        if e.namespace:
            namespaces.add(e.namespace)
        if not is_builtin_group(e.group):
            crds.add(f"{e.resource}.{e.group}")
        if e.kind == "PersistentVolumeClaim":
            volume = (obj.get("spec") or {}).get("volumeName")
            if volume:
                pvs.add(str(volume))
    return namespaces, crds, pvs


def _add_dependencies(
    chosen: dict[Key, tuple[IndexEntry, JSON]], deps: dict[Key, tuple[IndexEntry, JSON]]
) -> set[str]:
    """Move the dependencies chosen items need into `chosen`; return namespaces to create."""
    namespaces, crds, pvs = _needed(chosen)
    by_name = {(e.resource, e.name): (k, e, o) for k, (e, o) in deps.items()}
    wanted = (
        [("namespaces", n) for n in namespaces]
        + [("customresourcedefinitions", n) for n in crds]
        + [("persistentvolumes", n) for n in pvs]
    )
    for key in wanted:
        if key in by_name:
            k, e, o = by_name[key]
            chosen[k] = (e, o)
    classes: set[str] = set()
    for e, obj in chosen.values():
        if e.kind in ("PersistentVolumeClaim", "PersistentVolume", "StatefulSet"):
            classes |= _storage_classes(obj)
    for name in classes:
        if ("storageclasses", name) in by_name:
            k, e, o = by_name[("storageclasses", name)]
            chosen[k] = (e, o)
    present = {e.name for e, _ in chosen.values() if e.resource == "namespaces" and not e.group}
    return namespaces - present


def _context(spec: RestoreSpec, chosen: Iterable[tuple[IndexEntry, JSON]]) -> Context:
    uids: set[str] = set()
    services: set[tuple[str, str]] = set()
    pvs: set[str] = set()
    for e, obj in chosen:
        uid = (obj.get("metadata") or {}).get("uid")
        if uid:
            uids.add(str(uid))
        if e.kind == "Service" and not e.group and (obj.get("spec") or {}).get("selector"):
            services.add((e.namespace or "", e.name))
        if e.kind == "PersistentVolume" and not e.group:
            pvs.add(e.name)
    return Context(spec, frozenset(uids), frozenset(services), frozenset(pvs))


def _copy(obj: JSON) -> JSON:
    """A deep copy (JSON data only; several times faster than copy.deepcopy)."""
    copied: JSON = orjson.loads(orjson.dumps(obj))
    return copied


def _target(ref: ItemRef, spec: RestoreSpec) -> ItemRef:
    namespace = spec.map_namespace(ref.namespace) if ref.namespace else None
    name = spec.map_namespace(ref.name) if (ref.group, ref.kind) == ("", "Namespace") else ref.name
    return ItemRef(ref.group, ref.version, ref.kind, ref.resource, namespace, name)


def _new_namespace(name: str) -> tuple[IndexEntry, JSON]:
    entry = IndexEntry("", "v1", "Namespace", "namespaces", None, name, "", 0)
    return entry, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def plan(
    objects: Iterable[tuple[IndexEntry, JSON]], selection: Selection, spec: RestoreSpec
) -> Plan:
    """Decide, transform and order every item. The objects are not modified."""
    selector: LabelTest | None = (
        parse_selector(spec.label_selector) if spec.label_selector else None
    )
    direct = {e.key for e in selection.direct}
    chosen: dict[Key, tuple[IndexEntry, JSON]] = {}
    deps: dict[Key, tuple[IndexEntry, JSON]] = {}
    for e, obj in objects:
        if e.key in direct and (selector is None or selector(_labels(obj))):
            chosen[e.key] = (e, obj)
        elif e.key not in direct:
            deps[e.key] = (e, obj)
    plan_ = Plan(items=[])
    for name in sorted(_add_dependencies(chosen, deps)):
        e, obj = _new_namespace(name)
        chosen[e.key] = (e, obj)
        plan_.warnings.append(f"namespace {name} is not in the backup; it is created empty")
    ctx = _context(spec, chosen.values())
    for e, obj in chosen.values():
        source = ItemRef.of(e)
        copied, reason, notes = transform(_copy(obj), e.group, e.kind, ctx)
        plan_.items.append(
            PlannedItem(
                _target(source, spec), source, tier_of(e.group, e.kind), copied, reason, notes
            )
        )
    for e in selection.never:
        source = ItemRef.of(e)
        plan_.items.append(
            PlannedItem(
                _target(source, spec),
                source,
                tier_of(e.group, e.kind),
                None,
                "never restored: the cluster manages this type itself",
            )
        )
    used = {e.namespace for e, _ in chosen.values() if e.namespace}
    for source_ns in sorted(set(spec.namespace_mappings) - used):
        plan_.warnings.append(f"namespace mapping {source_ns}: no restored item is in {source_ns}")
    plan_.items.sort(key=lambda i: (i.tier, i.sort_key))
    return plan_
