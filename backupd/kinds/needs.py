"""The cluster-scoped objects some objects need, followed transitively. Pure, no I/O.

`auto` (backup and restore alike) takes exactly these: the caller notes each object
it takes, then asks `next()` for a needed object it has not seen, looks it up (in
the source cluster, or in the backup), notes it in turn if found, and so on until
nothing is left (PVC -> PersistentVolume -> StorageClass).

    needs = Needs(crd_names)
    for each taken namespaced object: needs.note(obj, group, resource, kind)
    while (ref := needs.next()) is not None:
        obj = look up ref; if found and allowed: take it; needs.note(obj, ...)

The reverse rule (a ClusterRoleBinding is needed by the ServiceAccounts it grants,
backupd.kinds.references.grants) cannot be followed from the namespace: once the
namespaced objects are noted, the caller offers each object of GRANTING_TYPES it can
see (all of them, listed from the cluster or read from the backup) to `granting()`;
one that grants a noted ServiceAccount is needed, and taken and noted like the rest:

    if needs.accounts:
        for binding in the cluster's (or the backup's) ClusterRoleBindings:
            if (ref := needs.granting(binding, ...)) is not None: take it; needs.note(...)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection

from backupd.kinds.references import (
    CLUSTER_SCOPED_TARGETS,
    JSON,
    SERVICE_ACCOUNT,
    Reference,
    grants,
    references,
    user_of,
)

Key = tuple[str, str, str, str]


class Needs:
    """Needed cluster-scoped objects, each with everything that uses it."""

    def __init__(self, crd_names: Collection[str] = ()) -> None:
        self.crd_names = frozenset(crd_names)
        self._refs: dict[Key, Reference] = {}
        self._users: dict[Key, list[str]] = {}
        self._queue: deque[Key] = deque()
        self.accounts: set[tuple[str, str]] = set()  # ServiceAccounts noted: (namespace, name)

    def note(self, obj: JSON, group: str, resource: str, kind: str) -> list[Reference]:
        """Record what `obj` needs; returns its cluster-scoped references."""
        if (group, kind) == (SERVICE_ACCOUNT.group, SERVICE_ACCOUNT.kind):
            meta = obj.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            ns, name = meta.get("namespace"), meta.get("name")
            if isinstance(ns, str) and ns and isinstance(name, str) and name:
                self.accounts.add((ns, name))
        found = [
            r
            for r in references(obj, group, resource, kind, crd_names=self.crd_names)
            if r.namespace is None and (r.group, r.resource) in CLUSTER_SCOPED_TARGETS
        ]
        for ref in found:
            if ref.key not in self._refs:
                self._refs[ref.key] = ref
                self._users[ref.key] = []
                self._queue.append(ref.key)
            users = self._users[ref.key]
            if ref.reason not in users:
                users.append(ref.reason)
        return found

    def granting(self, obj: JSON, group: str, resource: str, kind: str) -> Reference | None:
        """`obj` itself, if it grants a noted ServiceAccount (a ClusterRoleBinding); else None.

        The reference is recorded as needed (`describe()`: `ClusterRoleBinding x: grants
        serviceaccount shop/app`) but never handed out by `next()`: the caller holds the
        object already, takes it, and notes it to follow its ClusterRole.
        """
        granted = [a for a in grants(obj, group, kind) if a in self.accounts]
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not granted or not isinstance(name, str) or not name:
            return None
        reasons = [f"grants {user_of(SERVICE_ACCOUNT.kind, ns, sa)}" for ns, sa in granted]
        ref = Reference(group, resource, kind, None, name, reasons[0])
        users = self._users.setdefault(ref.key, [])
        self._refs.setdefault(ref.key, ref)
        users.extend(r for r in reasons if r not in users)
        return ref

    def next(self) -> Reference | None:
        """A needed object not handed out before, or None when all have been."""
        if not self._queue:
            return None
        return self._refs[self._queue.popleft()]

    def __contains__(self, key: object) -> bool:
        return key in self._refs

    def all(self) -> list[Reference]:
        """Every needed object so far, in the order first needed."""
        return list(self._refs.values())

    def reason(self, key: Key) -> str:
        """`used by deployment shop/web`, or `... and 2 more` when several use it."""
        users = self._users.get(key) or ["needed"]
        more = f" and {len(users) - 1} more" if len(users) > 1 else ""
        return f"{users[0]}{more}"

    def describe(self, key: Key) -> str:
        """`PriorityClass high: used by deployment shop/web`."""
        ref = self._refs[key]
        return f"{ref.kind} {ref.name}: {self.reason(key)}"
