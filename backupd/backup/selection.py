"""Which namespaces and resources a backup takes. Pure: no I/O.

Namespaces: include/exclude lists with shell wildcards (`shop-*`). Resources: any
spelling kubectl accepts (`deploy`, `deployments.apps`, `Deployment`), resolved through
the source cluster's discovery, or a wildcard (`*.example.com`, `*`). Some resources are never
backed up (they cannot be listed, or make no sense to restore); each skip is
recorded with its reason.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from backupd.cluster.discovery import ApiResource
from backupd.errors import UserInputError
from backupd.kinds.spellings import TypeFilter, is_pattern

# group_resource -> why it is never backed up
NEVER_BACKED_UP: dict[str, str] = {
    "events": "events are transient and recreated by the cluster",
    "events.events.k8s.io": "events are transient and recreated by the cluster",
    "nodes": "nodes belong to the cluster's infrastructure, not to workloads",
    "leases.coordination.k8s.io": "leases are short-lived coordination state",
    "componentstatuses": "component status is computed, not stored",
    "csinodes.storage.k8s.io": "CSI node info is written by each node's kubelet",
    "volumeattachments.storage.k8s.io": "volume attachments are node-specific runtime state",
    "certificatesigningrequests.certificates.k8s.io": "CSRs are one-time requests",
    "apiservices.apiregistration.k8s.io": "API services are the control plane's own wiring",
    "ipaddresses.networking.k8s.io": "IP addresses are the service IP allocator's state",
    "servicecidrs.networking.k8s.io": "service CIDRs belong to the control plane's configuration",
    "flowschemas.flowcontrol.apiserver.k8s.io": "API priority and fairness is control plane config",
    "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io": "API priority and fairness "
    "is control plane config",
    "resourceslices.resource.k8s.io": "resource slices are published by drivers per node",
}
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def split_csv(values: list[str] | None) -> list[str]:
    """['a,b', 'c'] -> ['a', 'b', 'c'], dropping blanks."""
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


@dataclass(frozen=True)
class NamespaceFilter:
    included: tuple[str, ...] = ("*",)
    excluded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for ns in (*self.included, *self.excluded):
            if not is_pattern(ns) and not _DNS1123_LABEL.fullmatch(ns):
                raise UserInputError(f"invalid namespace {ns!r}: not a valid namespace name")

    def matches(self, namespace: str) -> bool:
        if any(fnmatch.fnmatchcase(namespace, p) for p in self.excluded):
            return False
        return any(fnmatch.fnmatchcase(namespace, p) for p in self.included)

    @property
    def literal_names(self) -> list[str] | None:
        """The included names if they are all literal (no wildcard), else None."""
        if any(is_pattern(n) for n in self.included):
            return None
        return [n for n in self.included if self.matches(n)]

    def missing(self, existing: set[str]) -> list[str]:
        """Literal included namespaces that do not exist."""
        return [n for n in self.included if not is_pattern(n) and n not in existing]

    def empty_globs(self, existing: set[str]) -> list[str]:
        """Included wildcard patterns (other than `*`) that match no existing namespace."""
        return [
            p
            for p in self.included
            if p != "*" and is_pattern(p) and not any(fnmatch.fnmatchcase(n, p) for n in existing)
        ]


@dataclass(frozen=True)
class ResourceFilter:
    """Resource types by any spelling kubectl accepts (see backupd.kinds.spellings)."""

    included: tuple[str, ...] = ("*",)
    excluded: tuple[str, ...] = ()

    @property
    def types(self) -> TypeFilter:
        return TypeFilter(self.included, self.excluded)

    def matches(self, res: ApiResource) -> bool:
        return self.types.selects(res.type_name)

    def unknown(self, resources: list[ApiResource]) -> list[str]:
        """Spellings that name no served resource: almost always a typo."""
        return self.types.unknown(r.type_name for r in resources)


@dataclass(frozen=True)
class Skip:
    resource: str
    reason: str


def backupable(resources: list[ApiResource]) -> tuple[list[ApiResource], list[Skip]]:
    """Split discovered resources into those worth backing up and skips with reasons."""
    keep: list[ApiResource] = []
    skips: list[Skip] = []
    for r in resources:
        reason = NEVER_BACKED_UP.get(r.group_resource)
        if reason is None and not {"list", "get"} <= r.verbs:
            reason = "cannot be listed (no list verb)"
        if reason is None and not {"create"} <= r.verbs:
            reason = "cannot be created, so it cannot be restored"
        if reason:
            skips.append(Skip(r.group_resource, reason))
        else:
            keep.append(r)
    return keep, skips


def combined_selector(user_selector: str | None, exclude_label: str) -> str:
    """The user's label selector plus `<exclude_label>!=true`."""
    parts = [user_selector.strip()] if user_selector and user_selector.strip() else []
    parts.append(f"{exclude_label}!=true")
    return ",".join(parts)


_SELECTOR_TERM = re.compile(
    r"^\s*!?\s*[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?\s*"
    r"(?:(=|==|!=)\s*[A-Za-z0-9_.-]*|\s+(in|notin)\s+\([^()]*\))?\s*$"
)


def validate_selector(selector: str | None) -> str | None:
    """Reject an obviously malformed label selector before any API call."""
    if selector is None or not selector.strip():
        return None
    depth, term, terms = 0, "", []
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(term)
            term = ""
        else:
            term += ch
    terms.append(term)
    for t in terms:
        if not _SELECTOR_TERM.match(t):
            raise UserInputError(f"invalid label selector {selector!r}: cannot parse {t.strip()!r}")
    return selector.strip()
