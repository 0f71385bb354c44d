"""Which backup items a restore selects: namespaces, resources, labels, single items. Pure."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from backupd.errors import UserInputError

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


def _names(group: str, resource: str, kind: str) -> set[str]:
    """Every spelling a user may give for a resource type."""
    k = kind.lower()
    names = {resource, k}
    if group:
        names |= {f"{resource}.{group}", f"{k}.{group}"}
    return names


def resource_matches(patterns: list[str], group: str, resource: str, kind: str) -> bool:
    names = _names(group, resource, kind)
    return any(p == "*" or p.lower() in names for p in patterns)


def namespace_matches(patterns: list[str], namespace: str) -> bool:
    return any(fnmatch.fnmatchcase(namespace, p) for p in patterns)


@dataclass(frozen=True)
class ItemPattern:
    """`deployment/web`: one item by type and name (any spelling of the type)."""

    resource: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ItemPattern:
        parts = text.strip().split("/")
        if len(parts) != 2 or not all(parts):
            raise UserInputError(
                f"invalid item {text[:80]!r}: use <resource>/<name>, e.g. deployment/web"
            )
        return cls(parts[0].lower(), parts[1])

    def matches(self, group: str, resource: str, kind: str, name: str) -> bool:
        return name == self.name and self.resource in _names(group, resource, kind)


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
