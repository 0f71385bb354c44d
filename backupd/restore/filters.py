"""Which backup items a restore selects: namespaces, resources, labels, single items. Pure.

Resource types are named as kubectl names them (backupd.kinds.spellings). A filter that
matches nothing in the backup is refused: it is almost always a typo, and a restore
that restores nothing must not look like a success.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from backupd.errors import UserInputError
from backupd.kinds.spellings import TypeFilter, TypeName, is_pattern

# Never restored: owned by the cluster itself, or meaningless on another cluster.
NEVER_RESTORED: frozenset[str] = frozenset(
    {
        "nodes",
        "events",
        "events.events.k8s.io",
        "leases.coordination.k8s.io",
        "csinodes.storage.k8s.io",
        "volumeattachments.storage.k8s.io",
        "apiservices.apiregistration.k8s.io",
        "componentstatuses",
        "certificatesigningrequests.certificates.k8s.io",
    }
)


def resource_matches(patterns: Iterable[str], t: TypeName) -> bool:
    """Whether any of `patterns` (kubectl's spellings, or wildcards) names type `t`."""
    return any(t.matches(p) for p in patterns)


def namespace_matches(patterns: Iterable[str], namespace: str) -> bool:
    return any(fnmatch.fnmatchcase(namespace, p) for p in patterns)


@dataclass(frozen=True)
class ItemPattern:
    """`deployment/web`: one item by type and name (any spelling of the type)."""

    text: str
    resource: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ItemPattern:
        parts = text.strip().split("/")
        if len(parts) != 2 or not all(parts):
            raise UserInputError(
                f"invalid item {text[:80]!r}: use <resource>/<name>, e.g. deployment/web"
            )
        return cls(text.strip(), parts[0], parts[1])

    def matches(self, t: TypeName, name: str) -> bool:
        return name == self.name and not is_pattern(self.resource) and t.matches(self.resource)


def _listing(values: Iterable[str], limit: int = 8) -> str:
    shown = sorted(set(values))
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more if shown else "none"


def refuse_unmatched(
    *,
    included_namespaces: Iterable[str],
    resources: TypeFilter,
    namespaces: Collection[str],
    types: Collection[TypeName],
    served: Collection[TypeName],
) -> None:
    """A namespace or resource filter that matches nothing in the backup is a mistake.

    `namespaces` and `types` are what the backup holds; `served` are the target's types
    (an exclusion may name a type the backup lacks, but not one that exists nowhere).
    """
    for pattern in included_namespaces:
        if pattern != "*" and not any(fnmatch.fnmatchcase(n, pattern) for n in namespaces):
            raise UserInputError(
                f"namespace {pattern!r} matches nothing in the backup "
                f"(it holds namespaces: {_listing(namespaces)})"
            )
    for pattern in resources.unmatched(types):
        if any(t.matches(pattern) for t in served):
            raise UserInputError(f"resource {pattern!r} matches nothing in the backup")
        raise UserInputError(
            f"unknown resource {pattern!r}: not a type in the backup or served by the target"
        )
    literal = tuple(p for p in resources.excluded if not is_pattern(p))
    for pattern in TypeFilter((), literal).unknown([*types, *served]):
        raise UserInputError(
            f"unknown resource {pattern!r}: not a type in the backup or served by the target"
        )


# -- label selectors (the kubectl syntax) ------------------------------------------

_TERM = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<nkey>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)

LabelTest = Callable[[Mapping[str, str]], bool]


def _term(m: re.Match[str]) -> LabelTest:
    if m["not"]:
        key = m["nkey"]
        return lambda labels: key not in labels
    key, op = m["key"], m["op"]
    if op in ("=", "=="):
        value = m["value"]
        return lambda labels: labels.get(key) == value
    if op == "!=":
        value = m["value"]
        return lambda labels: labels.get(key) != value
    if m["setop"]:
        values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
        if m["setop"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    return lambda labels: key in labels


def parse_selector(text: str) -> LabelTest:
    """`app=web,tier!=db,env in (a,b),!legacy` -> a test on a label dict."""
    tests: list[LabelTest] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos:
            raise UserInputError(f"invalid label selector {text[:120]!r} near {text[pos:][:30]!r}")
        tests.append(_term(m))
        pos = m.end()
    if not tests:
        raise UserInputError("the label selector is empty")
    return lambda labels: all(t(labels) for t in tests)
