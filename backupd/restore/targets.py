"""The target cluster's types: group+kind to an API path, and waiting for new CRDs.

I/O: discovery on the target (never the source cluster), re-run after restored
CustomResourceDefinitions are Established so their custom resources can follow.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource, discover
from backupd.errors import ClusterError
from backupd.kinds.spellings import TypeName

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def crd_kind(crd: JSON) -> tuple[str, str]:
    """The (group, kind) a CustomResourceDefinition defines."""
    spec = crd.get("spec") or {}
    return str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))


def _established(crd: JSON) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class Targets:
    """What the target cluster serves, by (group, kind)."""

    def __init__(self, kube: KubeClient, *, poll: float = 0.25) -> None:
        self.kube = kube
        self.poll = poll
        self._by_kind: dict[tuple[str, str], ApiResource] = {}
        self._resolved: dict[tuple[str, str, str], ApiResource | None] = {}
        self.refresh()

    def refresh(self) -> None:
        self._by_kind = discover(self.kube).by_kind()
        self._resolved = {}

    def type_names(self) -> list[TypeName]:
        """Every served type and the names a user may give it (short names, singular)."""
        return [r.type_name for r in self._by_kind.values()]

    def serves(self, group: str, kind: str) -> bool:
        return (group, kind) in self._by_kind

    def resolve(self, group: str, version: str, kind: str) -> ApiResource | None:
        """The resource for (group, kind), at the object's own version (asked per item)."""
        key = (group, version, kind)
        if key not in self._resolved:
            found = self._by_kind.get((group, kind))
            self._resolved[key] = (
                dataclasses.replace(found, version=version) if found is not None else None
            )
        return self._resolved[key]

    def wait_established(self, names: Iterable[str], timeout: float = 60.0) -> dict[str, str]:
        """Wait for CRDs to be Established; return {name: problem} for those that are not."""
        pending = set(names)
        problems: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                try:
                    crd = self.kube.get(f"{CRD_PATH}/{name}")
                except ClusterError as e:
                    problems[name] = str(e)
                    continue
                if _established(crd):
                    pending.discard(name)
                    problems.pop(name, None)
            if pending:
                time.sleep(self.poll)
        for name in pending:
            problems.setdefault(name, f"not Established after {timeout:.0f}s")
        return problems

    def wait_served(self, kinds: Iterable[tuple[str, str]], timeout: float = 30.0) -> None:
        """Re-discover until every (group, kind) is served, or the timeout passes."""
        wanted = set(kinds)
        deadline = time.monotonic() + timeout
        self.refresh()
        while not wanted <= set(self._by_kind) and time.monotonic() < deadline:
            time.sleep(self.poll)
            self.refresh()
