"""A drill's verdict and its RTO/RPO. Pure: what was measured in, DrillTimes out.

    RPO   the backup's age when the drill started (how much would be lost)
    RTO   the restore plus the wait until every workload is ready: how long bringing
          the app back takes once there is a cluster. Verifying the backup and
          starting an ephemeral cluster are measured, and reported, but not counted.
          None when the app never came back (a workload ready in the backup is not).

The verdict is Failed when the backup did not verify, or anything is a problem
(an item failed or is unaccounted for, a workload did not come back).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from backupd.api.drill import DrillProblem, DrillTimes, DrillVerdict, WorkloadReadiness


@dataclass
class Durations:
    """Seconds each step of a drill took (0 for a step that did not run)."""

    verify: float = 0.0
    cluster: float = 0.0
    restore: float = 0.0
    readiness: float = 0.0


def rpo_seconds(backup_completed: datetime.datetime | None, started: datetime.datetime) -> float:
    """The backup's age at the start of the drill (0 when the backup records no time)."""
    if backup_completed is None:
        return 0.0
    return max(0.0, (started - backup_completed).total_seconds())


def came_back(workloads: Sequence[WorkloadReadiness]) -> bool:
    """Every workload that was ready in the backup is ready again."""
    return all(w.ready for w in workloads if w.was_ready)


def times(
    took: Durations,
    *,
    rpo: float,
    restored: bool,
    workloads: Sequence[WorkloadReadiness],
) -> DrillTimes:
    """RTO only when the restore ran and every workload came back."""
    rto = took.restore + took.readiness if restored and came_back(workloads) else None
    return DrillTimes(
        rto_seconds=rto,
        restore_seconds=took.restore,
        readiness_seconds=took.readiness,
        verify_seconds=took.verify,
        cluster_seconds=took.cluster,
        rpo_seconds=rpo,
    )


def verdict(*, verified: bool, problems: Sequence[DrillProblem]) -> DrillVerdict:
    return DrillVerdict.passed if verified and not problems else DrillVerdict.failed
