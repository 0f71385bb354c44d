"""What a drill report says, in words: shared by the Markdown, HTML and CLI views. Pure.

Every string here may hold names from the backup (untrusted); each view escapes them
for its own format. Control characters are replaced here so that no view can be
tricked into a line break or a terminal escape by a name.
"""

from __future__ import annotations

import datetime
import re

from backupd.api.drill import (
    DrillProblem,
    DrillReport,
    DrillTargetKind,
    TimelineEntry,
    WorkloadReadiness,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(text: object) -> str:
    """`text` as one line: control characters (newlines, escapes) become spaces."""
    return _CONTROL.sub(" ", str(text))


def duration(seconds: float | None) -> str:
    """'0.4s', '42s', '3m 05s', '1h 02m', '3d 4h'; 'n/a' for None."""
    if seconds is None:
        return "n/a"
    if seconds < 0:
        seconds = 0.0
    if seconds < 10:
        return f"{seconds:.1f}s"
    total = round(seconds)
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def verdict_word(report: DrillReport) -> str:
    return "PASSED" if report.passed else "FAILED"


def rto(report: DrillReport) -> str:
    """The RTO, or why there is none (the app never came back)."""
    if report.times.rto_seconds is None:
        return "not reached"
    return duration(report.times.rto_seconds)


def rpo(report: DrillReport) -> str:
    return duration(report.times.rpo_seconds)


def timestamp(at: datetime.datetime | None) -> str:
    if at is None:
        return "-"
    if at.tzinfo is not None:
        at = at.astimezone(datetime.UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def target(report: DrillReport) -> str:
    """'ephemeral' or 'kubeconfig', with the API server restored into."""
    kind = "ephemeral" if report.spec.target == DrillTargetKind.ephemeral else "kubeconfig"
    return f"{kind} ({clean(report.target_server)})" if report.target_server else kind


def source(report: DrillReport) -> str:
    """The backup drilled, and the schedule it was chosen from if any."""
    text = f"backup {clean(report.backup_name)}"
    if report.spec.schedule_name:
        text += f" (latest of schedule {clean(report.spec.schedule_name)})"
    return text


def workload(w: WorkloadReadiness) -> str:
    """'Deployment shop/web', 'PersistentVolumeClaim data/db-0'."""
    where = f"{w.namespace}/{w.name}" if w.namespace else w.name
    return clean(f"{w.kind} {where}")


def workload_state(w: WorkloadReadiness) -> str:
    if w.ready:
        return "ready"
    return "not ready" if w.was_ready else "not ready (was not ready in the backup)"


def blocking(report: DrillReport) -> list[WorkloadReadiness]:
    """The workloads that were ready in the backup and did not come back."""
    return [w for w in report.workloads if not w.ready and w.was_ready]


def problem(p: DrillProblem) -> str:
    """'PriorityClass high is not in the backup; it blocks deployment shop/web'."""
    text = clean(p.message)
    return f"{text}; it blocks {clean(p.blocks)}" if p.blocks else text


def problems(report: DrillReport) -> list[str]:
    """What failed and why. A failed report with no recorded problem still says
    which workloads did not come back, so a FAILED verdict is never unexplained."""
    lines = [problem(p) for p in report.problems]
    if not lines:
        for w in blocking(report):
            lines.append(f"{workload(w)} did not become ready: {clean(w.reason or 'no reason')}")
    if not lines and not report.passed:
        lines.append("the drill failed without a recorded reason; see the timeline")
    return lines


def timeline(report: DrillReport) -> list[TimelineEntry]:
    """The entries in time order (the order recorded breaks ties)."""
    return sorted(report.timeline, key=lambda e: e.at)


def offset(report: DrillReport, entry: TimelineEntry) -> str:
    """'+1m 05s': when an entry happened, from the start of the drill."""
    return "+" + duration((entry.at - report.started).total_seconds())


def restore_counts(report: DrillReport) -> str:
    """'created 40, skipped 2, failed 1' (in the order recorded)."""
    if not report.restore_counts:
        return "none recorded"
    return ", ".join(f"{clean(k)} {v}" for k, v in report.restore_counts.items())


def verification(report: DrillReport) -> str:
    if report.verified:
        return clean(report.verify_message or "signature and digests checked")
    return clean(report.verify_message or "not verified")


def ready_count(report: DrillReport) -> str:
    """'12/13 workloads ready'."""
    ready = sum(1 for w in report.workloads if w.ready)
    return f"{ready}/{len(report.workloads)} workloads ready"
