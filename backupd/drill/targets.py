"""Where a drill restores: a throw-away ephemeral cluster, or a given cluster that must
not be the one the backup came from.

    check(spec, backup, kube=..., i_know=...)   first: refuse the source cluster
    into(spec, backup, kube=..., cancel=...)     a context manager: the Target (a client,
                                                 its identity, the seconds its start-up
                                                 took), torn down on the way out

A drill restores everything and creates what it likes, so restoring into the backup's
own source cluster (same kube-system UID; same server URL for old records) is refused
unless the caller knows (`--i-know`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from backupd.api.backup import Backup, ClusterInfo
from backupd.api.drill import DrillSpec, DrillTargetKind
from backupd.api.progress import Cancel
from backupd.cluster.client import KubeClient
from backupd.cluster.identity import current_cluster
from backupd.drill.ephemeral import ephemeral_cluster
from backupd.errors import UserInputError


@dataclass
class Target:
    kube: KubeClient
    cluster: ClusterInfo
    started_seconds: float = 0.0  # starting an ephemeral cluster (not part of the RTO)
    directory: Path | None = None  # the ephemeral cluster's temporary directory


def refuse_source(backup: Backup, target: ClusterInfo, *, i_know: bool) -> list[str]:
    """Raise when `target` is the backup's source cluster (unless `i_know`); otherwise
    the notices to show (the source is unknown, or allowed)."""
    source = backup.status.cluster
    name = backup.metadata.name
    if not (source.id or source.server):
        return [f"backup {name} records no source cluster; cannot tell whether the target is it"]
    if not source.same_cluster(target):
        return []
    if not i_know:
        raise UserInputError(
            f"refusing to drill into {target.describe()}: it is the source cluster of backup "
            f"{name}, and a drill restores everything into its target; use --ephemeral or a "
            "temporary cluster (--i-know to do it anyway)"
        )
    return [f"drilling into the source cluster of backup {name} (--i-know)"]


@contextlib.contextmanager
def into(
    spec: DrillSpec,
    backup: Backup,
    *,
    kube: KubeClient | None = None,
    i_know: bool = False,
    cancel: Cancel | None = None,
    on_directory: Callable[[Path], None] | None = None,
) -> Iterator[Target]:
    """The target of `spec`: a new ephemeral cluster (torn down on the way out, see
    backupd.drill.ephemeral; `on_directory` hears its directory before it starts), or
    the cluster `kube` (else `spec.kubeconfig`) talks to, once `check` allowed it."""
    if spec.target is DrillTargetKind.ephemeral:
        begun = time.monotonic()
        with ephemeral_cluster(cancel=cancel, on_directory=on_directory) as cluster:
            yield Target(
                cluster.kube,
                current_cluster(cluster.kube),
                time.monotonic() - begun,
                cluster.directory,
            )
        return
    if kube is not None:
        yield Target(kube, current_cluster(kube))
        return
    with _client(spec) as own:
        yield Target(own, current_cluster(own))


def _client(spec: DrillSpec) -> KubeClient:
    if spec.kubeconfig is None:
        raise UserInputError("a drill into a given cluster needs --kubeconfig (or --ephemeral)")
    return KubeClient.from_kubeconfig(spec.kubeconfig, context=spec.context)


def check(
    spec: DrillSpec, backup: Backup, *, kube: KubeClient | None = None, i_know: bool = False
) -> list[str]:
    """Before anything else: refuse a given target that is the backup's source cluster
    (UserInputError, unless `i_know`); the notices to keep. An ephemeral one is new."""
    if spec.target is DrillTargetKind.ephemeral:
        return []
    if kube is not None:
        return refuse_source(backup, current_cluster(kube), i_know=i_know)
    with _client(spec) as own:
        return refuse_source(backup, current_cluster(own), i_know=i_know)
