"""The order a restore applies items in: tiers, applied one after another. Pure.

Items of one tier do not depend on each other and are applied in parallel; a tier
starts when the one before it has finished (and, for CRDs, is Established). Custom
resources come last, after their CRDs are Established.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

# (group, kind) of each tier, in order; everything else goes to OTHER or CUSTOM.
_TIERS: list[tuple[str, list[tuple[str, str]]]] = [
    ("CustomResourceDefinitions", [("apiextensions.k8s.io", "CustomResourceDefinition")]),
    ("Namespaces", [("", "Namespace")]),
    ("StorageClasses", [("storage.k8s.io", "StorageClass")]),
    ("PersistentVolumes", [("", "PersistentVolume")]),
    ("PersistentVolumeClaims", [("", "PersistentVolumeClaim")]),
    ("ServiceAccounts", [("", "ServiceAccount")]),
    (
        "RBAC",
        [
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
        ],
    ),
    (
        "Secrets and configuration",
        [
            ("", "Secret"),
            ("", "ConfigMap"),
            ("", "LimitRange"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("node.k8s.io", "RuntimeClass"),  # Pod admission refuses an unknown class
            ("networking.k8s.io", "IngressClass"),
        ],
    ),
    ("Services", [("", "Service")]),
    (
        "Workloads",
        [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("", "ReplicationController"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("", "Pod"),
        ],
    ),
]
TIER_NAMES: list[str] = [name for name, _ in _TIERS] + ["Other resources", "Custom resources"]
CRD_TIER = 0
NAMESPACE_TIER = 1
OTHER_TIER = len(_TIERS)
CUSTOM_TIER = len(_TIERS) + 1
_BY_KIND: dict[tuple[str, str], int] = {
    gk: tier for tier, (_, kinds) in enumerate(_TIERS) for gk in kinds
}


def tier_of(group: str, kind: str, *, custom: bool = False) -> int:
    """The tier of a type: its listed tier, else CUSTOM (`custom`) or OTHER.

    Whether a type is a custom resource is never guessed from its group's name
    (Gateway API and VolumeSnapshots live in `*.k8s.io` groups): the caller knows,
    from a CRD named `<plural>.<group>` in the backup or the target not serving it.
    """
    tier = _BY_KIND.get((group, kind))
    if tier is not None:
        return tier
    return CUSTOM_TIER if custom else OTHER_TIER


class Ordered(Protocol):
    @property
    def tier(self) -> int: ...

    @property
    def sort_key(self) -> tuple[str, ...]: ...


T = TypeVar("T", bound=Ordered)


def in_tiers(items: Sequence[T]) -> list[tuple[int, list[T]]]:
    """Non-empty tiers in order, each with its items sorted (stable, readable plans)."""
    by_tier: dict[int, list[T]] = {}
    for item in items:
        by_tier.setdefault(item.tier, []).append(item)
    return [(t, sorted(by_tier[t], key=lambda i: i.sort_key)) for t in sorted(by_tier)]
