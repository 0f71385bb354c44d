"""How a user may name a resource type, as kubectl accepts it. Pure, no I/O.

A type is named by its plural (`deployments`), singular (`deployment`), kind in any
case (`Deployment`), or a short name (`deploy`), each optionally qualified by its
group (`deployments.apps`) or version and group (`deployments.v1.apps`). Shell
wildcards match the plural or kind, qualified or not (`*.example.com`, `*`).

Backup resolves names against the source cluster's discovery; restore against the
backup's index, with the target cluster's discovery adding short names.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

_WILDCARD_CHARS = frozenset("*?[")
_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d+)?")


def is_pattern(value: str) -> bool:
    """Whether `value` holds a shell wildcard."""
    return bool(_WILDCARD_CHARS & set(value))


@dataclass(frozen=True)
class TypeName:
    """A resource type and every name it answers to."""

    group: str
    resource: str  # plural, e.g. "deployments"
    kind: str
    singular: str = ""
    short_names: tuple[str, ...] = ()

    @property
    def group_resource(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def identity(self) -> tuple[str, str]:
        return (self.group, self.resource)

    def names(self) -> frozenset[str]:
        """Unqualified names, lower case."""
        kind = self.kind.lower()
        return frozenset(
            n.lower() for n in (self.resource, self.singular or kind, kind, *self.short_names) if n
        )

    def _qualifies(self, qualifier: str) -> bool:
        """`apps`, `v1.apps` (and `v1` for the core group) name this type's group."""
        if qualifier == self.group:
            return True
        version, _, group = qualifier.partition(".")
        return bool(_VERSION.fullmatch(version)) and group == self.group

    def matches(self, spelling: str) -> bool:
        """Whether the user's `spelling` (a name or a wildcard pattern) names this type."""
        text = spelling.strip().lower()
        if text == "*":
            return True
        if is_pattern(text):
            kind = self.kind.lower()
            candidates = {self.group_resource, self.resource, kind}
            if self.group:
                candidates.add(f"{kind}.{self.group}")
            return any(fnmatch.fnmatchcase(c, text) for c in candidates)
        name, dot, qualifier = text.partition(".")
        if name not in self.names():
            return False
        return not dot or self._qualifies(qualifier)


def with_spellings(types: Iterable[TypeName], known: Iterable[TypeName]) -> list[TypeName]:
    """`types` with the singular and short names `known` gives the same (group, resource)."""
    by_identity = {k.identity: k for k in known}
    out = []
    for t in types:
        k = by_identity.get(t.identity)
        if k is not None:
            t = replace(
                t,
                singular=t.singular or k.singular,
                short_names=tuple(dict.fromkeys((*t.short_names, *k.short_names))),
            )
        out.append(t)
    return out


@dataclass(frozen=True)
class TypeFilter:
    """Included and excluded spellings; an exclusion wins."""

    included: tuple[str, ...] = ("*",)
    excluded: tuple[str, ...] = ()

    def selects(self, t: TypeName) -> bool:
        if any(t.matches(p) for p in self.excluded):
            return False
        return any(t.matches(p) for p in self.included)

    def excludes(self, t: TypeName) -> bool:
        return not self.selects(t)

    def unknown(self, types: Iterable[TypeName]) -> list[str]:
        """Spellings (included or excluded) that name none of `types`: almost always typos."""
        listed = list(types)
        return [
            p
            for p in dict.fromkeys((*self.included, *self.excluded))
            if p.strip() != "*" and not any(t.matches(p) for t in listed)
        ]

    def unmatched(self, types: Iterable[TypeName]) -> list[str]:
        """Included spellings that name none of `types`."""
        listed = list(types)
        return [
            p
            for p in dict.fromkeys(self.included)
            if p.strip() != "*" and not any(t.matches(p) for t in listed)
        ]
