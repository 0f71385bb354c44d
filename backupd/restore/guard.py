"""The privileged-restore guard: objects that grant cluster-wide power are created only
with --allow-privileged.

    mark_privileged(items, live_roles)   pure: each planned item's reasons
                                         (backupd.kinds.privilege), also as a note
    review(plan, spec, kube, targets)    I/O: reads the live roles the plan's bindings
                                         bind, marks, and decides

A restore without --allow-privileged is refused as a whole, before anything is
created, with one line naming every privileged item it would write. Refusing the
whole restore, rather than skipping those items and ending PartiallyFailed, keeps a
cautious user's cluster as it was: an app without its DaemonSet or its webhook is a
half-restored app, and the user decides after reading the list (or a dry run) and
runs the same command again with --allow-privileged. A privileged item that already
exists is never written under --existing-resource-policy none, so it does not count.
A dry run lists them either way, and a restore allowed to create them says so in its
warnings (`restore describe`) and in each item's result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backupd.api.restore import ExistingResourcePolicy, RestoreSpec
from backupd.cluster.client import KubeClient
from backupd.errors import ClusterForbidden, ClusterNotFound, UserInputError
from backupd.kinds.privilege import RBAC, RoleKey, Roles, reasons, role_of
from backupd.restore.planner import Plan, PlannedItem
from backupd.restore.targets import Targets

PRIVILEGED = "privileged: "
FLAG = "--allow-privileged"
SHOWN = 10  # items named in the one-line refusal; a dry run lists them all


def _planned_roles(items: Iterable[PlannedItem]) -> dict[RoleKey, Any]:
    """The rules of the Roles and ClusterRoles the plan restores, by their target names."""
    return {
        (i.ref.kind, i.ref.namespace, i.ref.name): i.obj.get("rules")
        for i in items
        if i.obj is not None and i.ref.group == RBAC and i.ref.kind in ("Role", "ClusterRole")
    }


def mark_privileged(items: list[PlannedItem], live_roles: Roles | None = None) -> None:
    """Mark what grants cluster-wide power, with why (also as a note, so results say it).

    A binding is judged by the restored version of its role and by the live one
    (`live_roles`): when the role exists already, the live one is what it binds.
    """
    planned = _planned_roles(items)
    for item in items:
        if item.obj is None:
            continue
        why = reasons(item.obj, item.ref.group, item.ref.kind, roles=planned)
        key = role_of(item.obj) if item.ref.group == RBAC else None
        if live_roles and key is not None and key in live_roles:
            live = reasons(item.obj, item.ref.group, item.ref.kind, roles=live_roles)
            why += [f"{w} (as it is in the target)" for w in live if w not in why]
        item.privileged = why
        item.notes = [n for n in item.notes if not n.startswith(PRIVILEGED)]
        if why:
            item.notes.append(PRIVILEGED + "; ".join(why))


def describe(item: PlannedItem) -> str:
    """`clusterrolebindings.rbac.authorization.k8s.io/ops (binds ClusterRole cluster-admin)`."""
    return f"{item.ref.where()} ({'; '.join(item.privileged)})"


def listing(items: list[PlannedItem], limit: int | None = None) -> str:
    shown = items if limit is None else items[:limit]
    more = len(items) - len(shown)
    return ", ".join(describe(i) for i in shown) + (f" and {more} more" if more else "")


def _role_path(targets: Targets, key: RoleKey) -> str | None:
    kind, namespace, name = key
    api = targets.resolve(RBAC, "v1", kind)
    return None if api is None else api.path(namespace, name)


def live_roles(
    kube: KubeClient, targets: Targets, items: Iterable[PlannedItem]
) -> dict[RoleKey, Any]:
    """The target's version of every role the plan's bindings bind (one GET each)."""
    keys = {
        key
        for i in items
        if i.obj is not None and i.ref.group == RBAC and (key := role_of(i.obj)) is not None
    }
    found: dict[RoleKey, Any] = {}
    for key in sorted(keys, key=str):
        path = _role_path(targets, key)
        if path is None:
            continue
        try:
            found[key] = kube.get(path).get("rules")
        except (ClusterNotFound, ClusterForbidden):
            continue  # none (or not ours to read): the restored version decides
    return found


def _written(kube: KubeClient, targets: Targets, item: PlannedItem, spec: RestoreSpec) -> bool:
    """Whether the restore would write `item`: it is missing, or may be replaced."""
    if spec.existing_resource_policy is ExistingResourcePolicy.update:
        return True
    ref = item.ref
    api = targets.resolve(ref.group, ref.version, ref.kind)
    if api is None:
        return True
    try:
        kube.get(api.path(ref.namespace, ref.name))
    except ClusterNotFound:
        return True
    return False


def review(plan: Plan, spec: RestoreSpec, *, kube: KubeClient, targets: Targets) -> None:
    """Mark the plan's privileged items; refuse the restore if it would write one
    without --allow-privileged (UserInputError, before anything is created). Adds a
    warning naming them to the plan otherwise."""
    mark_privileged(plan.items, live_roles(kube, targets, plan.to_apply))
    marked = [i for i in plan.to_apply if i.privileged]
    if not marked:
        return
    n = len(marked)
    if spec.dry_run:
        verdict = (
            f"{FLAG} lets the restore create them"
            if spec.allow_privileged
            else f"a restore refuses to create them without {FLAG}"
        )
        plan.warnings.append(
            f"{n} privileged item(s) grant cluster-wide power; {verdict}: " + listing(marked)
        )
        return
    if spec.allow_privileged:
        plan.warnings.append(
            f"{n} privileged item(s) restored ({FLAG}): they grant cluster-wide power: "
            + listing(marked)
        )
        return
    refused = [i for i in marked if _written(kube, targets, i, spec)]
    if refused:
        raise UserInputError(
            f"refusing to restore {len(refused)} privileged item(s) that grant cluster-wide "
            f"power: {listing(refused, SHOWN)}",
            hint=f"review them with --dry-run; {FLAG} restores them",
        )
    plan.warnings.append(
        f"{n} privileged item(s) exist already and are left alone: " + listing(marked)
    )
