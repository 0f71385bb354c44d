"""A drill report as Markdown (report.md). Pure: DrillReport in, text out.

Names come from the backup and are untrusted: every value is one line, with the
Markdown specials backslash-escaped and `<`, `>` and `&` as entities, so a name can
neither break a table nor inject a link, an image or HTML into a rendered page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from backupd.api.drill import DrillReport
from backupd.drill import summary

_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # values never start a line: no '#', '-', '+'


def escape(text: object) -> str:
    """One line of untrusted text, safe in a paragraph and a table cell."""
    value = summary.clean(text)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", value)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
    return lines


def _head(report: DrillReport) -> list[str]:
    name = escape(report.metadata.name)
    return [
        f"# Restore drill {name}: {summary.verdict_word(report)}",
        "",
        f"**{summary.verdict_word(report)}** | **RTO {escape(summary.rto(report))}**"
        f" | **RPO {escape(summary.rpo(report))}**",
        "",
        f"- Source: {escape(summary.source(report))}, completed "
        f"{escape(summary.timestamp(report.backup_completed))}",
        f"- Target: {escape(summary.target(report))}",
        f"- Started: {escape(summary.timestamp(report.started))}; finished "
        f"{escape(summary.timestamp(report.finished))}",
        f"- Verified: {'yes' if report.verified else 'no'} "
        f"({escape(summary.verification(report))})",
        f"- RTO split: restore {escape(summary.duration(report.times.restore_seconds))}, "
        f"readiness {escape(summary.duration(report.times.readiness_seconds))} (verification "
        f"{escape(summary.duration(report.times.verify_seconds))} and cluster start "
        f"{escape(summary.duration(report.times.cluster_seconds))} not counted)",
        f"- Restore: {escape(summary.restore_counts(report))}; "
        f"{escape(summary.ready_count(report))}",
        *(
            [f"- Restore name: {escape(report.restore_name)} (backupctl restore describe)"]
            if report.restore_name
            else []
        ),
        *(f"- Note: {escape(notice)}" for notice in report.notices),
        "",
    ]


def _failures(report: DrillReport) -> list[str]:
    lines = ["## What failed and why", ""]
    found = summary.problems(report)
    lines += [f"- {escape(line)}" for line in found] or ["Nothing failed."]
    return [*lines, ""]


def _namespaces(report: DrillReport) -> list[str]:
    lines = ["## Namespaces", ""]
    if not report.namespaces:
        return [*lines, "No namespace recorded.", ""]
    rows = [
        (
            n.namespace or "(cluster-scoped)",
            n.items,
            n.created,
            n.unchanged,
            n.skipped,
            n.failed,
            f"{n.workloads_ready}/{n.workloads}",
        )
        for n in report.namespaces
    ]
    header = ("Namespace", "Items", "Created", "Unchanged", "Skipped", "Failed", "Ready")
    return lines + _table(header, rows) + [""]


def _workloads(report: DrillReport) -> list[str]:
    lines = ["## Workloads", ""]
    if not report.workloads:
        return [*lines, "No workload recorded.", ""]
    rows = [
        (
            summary.workload(w),
            summary.workload_state(w),
            summary.duration(w.seconds_to_ready) if w.ready else "-",
            w.reason or "",
        )
        for w in report.workloads
    ]
    lines += [*_table(("Workload", "State", "Ready after", "Reason"), rows), ""]
    for w in report.workloads:
        if w.events and not w.ready:
            lines += [f"### Events of {escape(summary.workload(w))}", ""]
            lines += [f"- {escape(event)}" for event in w.events] + [""]
    return lines


def _timeline(report: DrillReport) -> list[str]:
    lines = ["## Timeline", ""]
    entries = summary.timeline(report)
    if not entries:
        return [*lines, "No timeline recorded.", ""]
    rows = [
        (summary.timestamp(e.at), summary.offset(report, e), e.step, e.message) for e in entries
    ]
    return lines + _table(("Time", "Since start", "Step", "What happened"), rows) + [""]


def render(report: DrillReport) -> str:
    """The whole report: verdict with RTO and RPO first, then what failed, namespaces,
    workloads (with the events of the stuck ones) and the timeline."""
    parts = _head(report) + _failures(report) + _namespaces(report)
    parts += _workloads(report) + _timeline(report)
    return "\n".join(parts).rstrip("\n") + "\n"
