"""Why a drill failed, in a person's words: the missing piece and what it blocks. Pure.

What failed is a restored item (its result is `failed`) or a workload that was ready
in the backup and did not come back. For each, the objects it needs
(backupd.kinds.references, the same rules backup's `auto` and restore's planner use)
that are neither in the backup nor in the target are the missing pieces:

    PriorityClass high is not in the backup          blocks deployment shop/web
    CustomResourceDefinition widgets.shop.example.com is not in the backup
                                                     blocks widget shop/widget-1

A custom resource whose type the target does not serve needs the CRD named
`<plural>.<group>` after its own index entry (never guessed from the group). What
failed with no missing piece found is a problem of its own, with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from backupd.api.drill import DrillProblem, WorkloadReadiness
from backupd.api.restore import ItemResult, Outcome
from backupd.archive.format import IndexEntry
from backupd.kinds.references import CRD, JSON, Reference, references, user_of

Key = tuple[str, str, str, str]
NOT_IN_BACKUP = "is not in the backup"


@dataclass(frozen=True)
class Blocked:
    """Something that did not come back, and why."""

    kind: str
    namespace: str | None
    name: str
    why: str
    group: str | None = None  # known for item results; a workload names its kind only

    @property
    def who(self) -> str:
        """`deployment shop/web`, as references name a user."""
        return user_of(self.kind, self.namespace, self.name)

    def matches(self, e: IndexEntry) -> bool:
        same_group = self.group is None or self.group == e.group
        return same_group and (e.kind, e.namespace, e.name) == (
            self.kind,
            self.namespace,
            self.name,
        )


def blocked(items: Iterable[ItemResult], workloads: Iterable[WorkloadReadiness]) -> list[Blocked]:
    """The failed items, then the workloads that were ready in the backup and are not."""
    found = [
        Blocked(r.kind, r.namespace, r.name, f"not restored: {r.reason or 'failed'}", r.group)
        for r in items
        if r.outcome is Outcome.failed
    ]
    found += [
        Blocked(w.kind, w.namespace, w.name, f"not ready: {w.reason or 'no reason given'}")
        for w in workloads
        if w.was_ready and not w.ready
    ]
    return found


def _crd_of(e: IndexEntry, who: str) -> Reference:
    return Reference(CRD.group, CRD.resource, CRD.kind, None, f"{e.resource}.{e.group}", who)


Identity = tuple[str, str | None, str]  # kind, namespace, name: what a failure names


def _identity(e: IndexEntry) -> Identity:
    return (e.kind, e.namespace, e.name)


def wanted(failed: Iterable[Blocked], entries: Iterable[IndexEntry]) -> list[IndexEntry]:
    """The entries of the backup whose objects say what the failures need: only those
    are read back from the archive, never the whole backup."""
    names = {(b.kind, b.namespace, b.name) for b in failed}
    return [e for e in entries if _identity(e) in names]


def needs(
    what: Blocked,
    candidates: Iterable[tuple[IndexEntry, JSON]],
    served: Collection[tuple[str, str]],
    crd_names: Collection[str],
) -> list[Reference]:
    """What the backup's object(s) for `what` refer to; for a custom resource of a type
    the target does not serve, its CRD too. `candidates`: the backup's objects of the
    same kind, namespace and name; `crd_names`: the CRDs in the backup."""
    found: dict[Key, Reference] = {}
    for e, obj in candidates:
        if not what.matches(e):
            continue
        for ref in references(obj, e.group, e.resource, e.kind, crd_names=crd_names):
            found.setdefault(ref.key, ref)
        if e.group and (e.group, e.resource) not in served:
            ref = _crd_of(e, f"used by {what.who}")
            found.setdefault(ref.key, ref)
    return list(found.values())


CRD_KEY = (CRD.group, CRD.resource)


def _piece(ref: Reference) -> str:
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    return f"{ref.kind} {where}"


def problems(
    failed: Sequence[Blocked],
    entries: Iterable[IndexEntry],
    objects: Iterable[tuple[IndexEntry, JSON]],
    *,
    served: Collection[tuple[str, str]],
    exists: Callable[[Reference], bool],
) -> list[DrillProblem]:
    """One problem per missing piece (naming everything it blocks, in order), then one
    per failure no missing piece explains. `entries`: the backup's whole index;
    `objects`: at least those of `wanted(failed, entries)`. `exists` says whether the
    target has an object the backup lacks (a built-in PriorityClass, a CRD installed
    beforehand)."""
    pieces: dict[Key, tuple[Reference, list[str]]] = {}
    unexplained: list[Blocked] = []
    in_backup: set[Key] = set()
    crd_names: set[str] = set()
    for e in entries:
        in_backup.add(e.key)
        if (e.group, e.resource) == CRD_KEY:
            crd_names.add(e.name)
    by_identity: dict[Identity, list[tuple[IndexEntry, JSON]]] = {}
    for e, obj in objects:
        by_identity.setdefault(_identity(e), []).append((e, obj))
    for what in failed:
        candidates = by_identity.get((what.kind, what.namespace, what.name), [])
        lacking = [
            ref
            for ref in needs(what, candidates, served, crd_names)
            if ref.key not in in_backup and not exists(ref)
        ]
        for ref in lacking:
            users = pieces.setdefault(ref.key, (ref, []))[1]
            if what.who not in users:
                users.append(what.who)
        if not lacking:
            unexplained.append(what)
    found = [
        DrillProblem(
            message=f"{_piece(ref)} {NOT_IN_BACKUP}",
            blocks=", ".join(users),
            kind=ref.kind,
            namespace=ref.namespace,
            name=ref.name,
        )
        for ref, users in pieces.values()
    ]
    found += [
        DrillProblem(
            message=f"{what.who} {what.why}",
            kind=what.kind,
            namespace=what.namespace,
            name=what.name,
        )
        for what in unexplained
    ]
    return found
