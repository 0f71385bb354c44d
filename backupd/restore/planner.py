"""From a backup's index, its objects and a RestoreSpec: what to do with each item. Pure.

Two steps, because reading objects is the expensive part:

1. `select_entries(entries, spec, served=...)` works on the index alone: the items
   the filters select, the cluster-scoped items they may need (Namespaces and the
   types backupd.kinds.references can lead to), and the items of types that are
   never restored. A filter that matches nothing in the backup is refused here.
2. `plan(objects, selection, spec)` applies the label selector, pulls in exactly the
   cluster-scoped objects the selected objects need (transitively, as backup's
   `auto` does: the same module decides), each with why, runs the per-kind actions,
   and orders everything in tiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from backupd.api.backup import ClusterResources
from backupd.api.restore import RestoreSpec
from backupd.archive.format import IndexEntry
from backupd.archive.format import ItemRef as ItemRef  # re-exported
from backupd.errors import UserInputError
from backupd.kinds.needs import Needs
from backupd.kinds.references import CLUSTER_SCOPED_TARGETS, CRD, GRANTING_TYPES, STORAGE_CLASS
from backupd.kinds.spellings import TypeFilter, TypeName, with_spellings
from backupd.restore.actions import Context, transform
from backupd.restore.actions.base import controller_uid
from backupd.restore.filters import (
    NEVER_RESTORED,
    ItemPattern,
    LabelTest,
    namespace_matches,
    parse_selector,
    refuse_unmatched,
)
from backupd.restore.ordering import in_tiers, tier_of

JSON = dict[str, Any]
Key = tuple[str, str, str, str]
NAMESPACES = ("", "namespaces")
CRDS = (CRD.group, CRD.resource)


@dataclass
class PlannedItem:
    ref: ItemRef  # where it goes in the target (namespace mapped)
    source: ItemRef  # where it was in the backup
    tier: int
    obj: JSON | None  # the object to apply; None when skipped
    skip_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    # why it is restored when no filter selected it: "used by deployment shop/web"
    reason: str | None = None
    # False for what the plan makes up (a namespace the backup lacks): an existing
    # object of that name is then what the restore needs, never a difference
    in_backup: bool = True
    # why it grants cluster-wide power (restore.guard marks it); [] when it does not
    privileged: list[str] = field(default_factory=list)

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
    crd_names: frozenset[str] = frozenset()  # the CRDs the backup holds: <plural>.<group>
    # cluster-scoped items the resource filters leave out: needed, they are warned of
    filtered_out: frozenset[Key] = frozenset()
    # (group, kind) the target serves; None when unknown
    served: frozenset[tuple[str, str]] | None = None

    def is_custom(self, e: IndexEntry) -> bool:
        """A custom resource: its CRD is in the backup, or the target does not serve it."""
        if e.group and f"{e.resource}.{e.group}" in self.crd_names:
            return True
        return self.served is not None and (e.group, e.kind) not in self.served

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


def _types(entries: list[IndexEntry], served: list[TypeName]) -> dict[tuple[str, str], TypeName]:
    """The backup's types, with the singular and short names the target's discovery gives."""
    found = {(e.group, e.resource): TypeName(e.group, e.resource, e.kind) for e in entries}
    return {t.identity: t for t in with_spellings(found.values(), served)}


def _candidate(e: IndexEntry, spec: RestoreSpec) -> bool:
    """A cluster-scoped item that selected items may need (decided with the objects)."""
    if e.namespace is not None:
        return False
    if (e.group, e.resource) == NAMESPACES:
        return True
    return spec.include_cluster_resources is not ClusterResources.false and (
        (e.group, e.resource) in CLUSTER_SCOPED_TARGETS or (e.group, e.resource) in GRANTING_TYPES
    )


def select_entries(
    entries: Iterable[IndexEntry], spec: RestoreSpec, *, served: Iterable[TypeName] = ()
) -> Selection:
    """Filter the index by namespaces, resources and items (no object is needed).

    `served` are the target cluster's types (its discovery): they add short names
    (`deploy`, `cm`) and say which types are custom. Raises UserInputError for a
    filter that matches nothing in the backup.
    """
    entries = list(entries)
    known = list(served)
    types = _types(entries, known)
    resources = TypeFilter(tuple(spec.included_resources), tuple(spec.excluded_resources))
    held_namespaces = {e.namespace for e in entries if e.namespace} | {
        e.name for e in entries if (e.group, e.resource) == NAMESPACES
    }
    refuse_unmatched(
        included_namespaces=spec.included_namespaces,
        resources=resources,
        namespaces=held_namespaces,
        types=list(types.values()),
        served=known,
    )
    items = [ItemPattern.parse(t) for t in spec.include_items]
    selected = {k for k, t in types.items() if resources.selects(t)}
    all_cluster = _all_cluster_resources(spec)
    matched_items: set[str] = set()
    filtered_out: set[Key] = set()
    selection = Selection(
        crd_names=frozenset(e.name for e in entries if (e.group, e.resource) == CRDS),
        served=frozenset((t.group, t.kind) for t in known) if known else None,
    )
    for e in entries:
        wanted = (e.group, e.resource) in selected
        hits = [p.text for p in items if p.matches(types[(e.group, e.resource)], e.name)]
        if items:
            wanted = wanted and bool(hits)
        if e.namespace:
            wanted = (
                wanted
                and namespace_matches(spec.included_namespaces, e.namespace)
                and not namespace_matches(spec.excluded_namespaces, e.namespace)
            )
        elif not all_cluster and not items:
            wanted = False
        if wanted:
            matched_items.update(hits)
            (selection.never if e.group_resource in NEVER_RESTORED else selection.direct).append(e)
        elif _candidate(e, spec):
            if (e.group, e.resource) in selected or (e.group, e.resource) == NAMESPACES:
                selection.dependencies.append(e)
            else:
                filtered_out.add(e.key)
    selection.filtered_out = frozenset(filtered_out)
    for p in items:
        if p.text not in matched_items:
            raise UserInputError(f"item {p.text!r} matches nothing in the backup{_scope(spec)}")
    narrowed = spec.included_resources != ["*"] or spec.excluded_resources or items
    if narrowed and not selection.direct and not selection.never:
        # (a namespace filter alone may restore an empty namespace)
        raise UserInputError(f"nothing in the backup matches the filters{_scope(spec)}")
    return selection


def _scope(spec: RestoreSpec) -> str:
    """` (namespaces shop; resources deployments)`: the filters in force, for a message."""
    parts = []
    if spec.included_namespaces != ["*"]:
        parts.append("namespaces " + ",".join(spec.included_namespaces))
    if spec.excluded_namespaces:
        parts.append("excluding namespaces " + ",".join(spec.excluded_namespaces))
    if spec.included_resources != ["*"]:
        parts.append("resources " + ",".join(spec.included_resources))
    if spec.excluded_resources:
        parts.append("excluding resources " + ",".join(spec.excluded_resources))
    return f" ({'; '.join(parts)})" if parts else ""


def _labels(obj: JSON) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _target_key(key: Key, spec: RestoreSpec) -> Key:
    """The StorageClass a claim will use once --storage-class-mappings has run."""
    group, resource, namespace, name = key
    if (group, resource) == (STORAGE_CLASS.group, STORAGE_CLASS.resource):
        return (group, resource, namespace, spec.storage_class_mappings.get(name, name))
    return key


def _add_dependencies(
    chosen: dict[Key, tuple[IndexEntry, JSON]],
    deps: dict[Key, tuple[IndexEntry, JSON]],
    selection: Selection,
    spec: RestoreSpec,
    warnings: list[str],
) -> tuple[set[str], dict[Key, str]]:
    """Move what chosen items need into `chosen`, transitively (PVC -> PV -> StorageClass).

    Returns the namespaces to create and, for each item taken, why.
    """
    needs = Needs(selection.crd_names)
    uids = {str((o.get("metadata") or {}).get("uid")) for _, o in chosen.values()}
    for e, obj in chosen.values():
        if controller_uid(obj) not in uids:  # a Pod its restored Deployment makes again
            needs.note(obj, e.group, e.resource, e.kind)
    taken: dict[Key, Key] = {}  # taken item -> the reference that took it
    for key, (e, obj) in deps.items():  # the reverse rule: bindings granting chosen accounts
        if (e.group, e.resource) not in GRANTING_TYPES or key in chosen:
            continue
        if (granting := needs.granting(obj, e.group, e.resource, e.kind)) is not None:
            chosen[key] = (e, obj)
            taken[key] = granting.key
            needs.note(obj, e.group, e.resource, e.kind)
    while (ref := needs.next()) is not None:
        key = _target_key(ref.key, spec)
        if key in chosen or key in taken:
            continue
        if key in deps:
            e, obj = deps[key]
            chosen[key] = (e, obj)
            taken[key] = ref.key
            needs.note(obj, e.group, e.resource, e.kind)
        elif key in selection.filtered_out:
            warnings.append(
                f"{needs.describe(ref.key)}; not restored: the resource filters leave "
                f"{ref.group_resource} out, so it must already exist in the target"
            )
    namespaces = {e.namespace for e, _ in chosen.values() if e.namespace}
    for name in namespaces:
        key = (*NAMESPACES, "", name)
        if key in deps:
            chosen[key] = deps[key]
    present = {e.name for e, _ in chosen.values() if (e.group, e.resource) == NAMESPACES}
    return namespaces - present, {k: needs.reason(r) for k, r in taken.items()}


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
    if selector is not None and selection.direct and not chosen:
        raise UserInputError(
            f"label selector {spec.label_selector!r} matches nothing in the backup{_scope(spec)}"
        )
    plan_ = Plan(items=[])
    missing, reasons = _add_dependencies(chosen, deps, selection, spec, plan_.warnings)
    deps.clear()  # what no chosen item needs is let go now
    made_up: set[Key] = set()
    for name in sorted(missing):
        e, obj = _new_namespace(name)
        chosen[e.key] = (e, obj)
        made_up.add(e.key)
        plan_.warnings.append(f"namespace {name} is not in the backup; it is created empty")
    ctx = _context(spec, chosen.values())
    used = {e.namespace for e, _ in chosen.values() if e.namespace}
    # Each backed-up object is let go once its copy is transformed: with the objects
    # streamed in (engine.read_plan), the originals and the copies never all coexist.
    for key in list(chosen):
        e, obj = chosen.pop(key)
        source = ItemRef.of(e)
        copied, skip, notes = transform(_copy(obj), e.group, e.kind, ctx)
        why = reasons.get(key)
        tier = tier_of(e.group, e.kind, custom=selection.is_custom(e))
        plan_.items.append(
            PlannedItem(
                _target(source, spec),
                source,
                tier,
                copied,
                skip,
                [why, *notes] if why else notes,
                why,
                in_backup=key not in made_up,
            )
        )
    for e in selection.never:
        source = ItemRef.of(e)
        plan_.items.append(
            PlannedItem(
                _target(source, spec),
                source,
                tier_of(e.group, e.kind, custom=selection.is_custom(e)),
                None,
                "never restored: the cluster manages this type itself",
            )
        )
    for source_ns in sorted(set(spec.namespace_mappings) - used):
        plan_.warnings.append(f"namespace mapping {source_ns}: no restored item is in {source_ns}")
    plan_.items.sort(key=lambda i: (i.tier, i.sort_key))
    return plan_
