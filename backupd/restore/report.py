"""Turn item results into a restore's status, its log, and text for people. Pure."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from backupd.api.common import Phase
from backupd.api.masking import is_secret, mask_text, secret_values
from backupd.api.restore import ItemIssue, ItemResult, Outcome, OutcomeCounts, RestoreStatus

if TYPE_CHECKING:
    from backupd.restore.planner import PlannedItem  # annotations only: `restore get` stays light

CLUSTER = "(cluster)"
DRY_RUN_WORDS = {Outcome.created: "create", Outcome.updated: "update"}


def outcome_word(outcome: Outcome, dry_run: bool) -> str:
    return DRY_RUN_WORDS.get(outcome, outcome.value) if dry_run else outcome.value


def _issue(r: ItemResult, message: str, *, with_diff: bool = True) -> ItemIssue:
    return ItemIssue(
        message=message,
        namespace=r.namespace,
        resource=r.group_resource,
        name=r.name,
        diff=r.diff if with_diff else None,
    )


def secret_masking(items: Iterable[PlannedItem]) -> Callable[[ItemResult], ItemResult]:
    """What makes a result safe to store and print: the API server's refusal of a
    Secret can echo its values, so a Secret's reason, diff and warnings are masked
    (backupd.api.masking) before anything keeps them."""
    secrets = {
        (i.ref.resource, i.ref.namespace, i.ref.name): i.obj
        for i in items
        if i.obj is not None and is_secret(i.obj)
    }

    def mask(r: ItemResult) -> ItemResult:
        if r.group or r.kind != "Secret" or not (r.reason or r.diff or r.warnings):
            return r  # (most results: nothing to mask, so no Secret's values are decoded)
        known = secret_values(secrets.get((r.resource, r.namespace, r.name)))
        return r.model_copy(
            update={
                "reason": mask_text(r.reason, known) if r.reason else r.reason,
                "diff": mask_text(r.diff, known) if r.diff else r.diff,
                "warnings": [mask_text(w, known) for w in r.warnings],
            }
        )

    return mask


def summarize(results: Iterable[ItemResult], status: RestoreStatus) -> None:
    """Fill counts, warnings, errors and the phase of `status` from the item results."""
    counts = OutcomeCounts()
    attempted = 0
    for r in results:
        counts.add(r.outcome)
        if r.outcome is Outcome.failed:
            status.errors.append(_issue(r, r.reason or "failed"))
        elif r.outcome is Outcome.differs:
            status.warnings.append(_issue(r, r.reason or "differs from the backup"))
        status.warnings.extend(
            _issue(r, f"the API server warned: {w}", with_diff=False) for w in r.warnings
        )
        if r.outcome is not Outcome.skipped:
            attempted += 1
    status.counts = counts
    status.progress.items_done = sum(counts.model_dump().values())
    if counts.failed == 0:
        status.phase = Phase.completed
    elif counts.failed < attempted:
        status.phase = Phase.partially_failed
    else:
        status.phase = Phase.failed
        status.failure_reason = status.failure_reason or "every item failed"


def log_line(r: ItemResult, at: datetime.datetime, dry_run: bool = False) -> str:
    word = outcome_word(r.outcome, dry_run)
    level = {Outcome.failed: "error", Outcome.differs: "warning"}.get(r.outcome, "info")
    if r.warnings and level == "info":
        level = "warning"
    moved = f" (from namespace {r.source_namespace})" if r.source_namespace else ""
    reason = f": {r.reason}" if r.reason else ""
    warned = "".join(f"; the API server warned: {w}" for w in r.warnings)
    return f"{at.isoformat()} {level} {word} {r.where()}{moved}{reason}{warned}"


def group_by_namespace(issues: Iterable[ItemIssue]) -> dict[str, list[ItemIssue]]:
    """Cluster-scoped issues first, then by namespace name."""
    groups: dict[str, list[ItemIssue]] = {}
    for issue in issues:
        groups.setdefault(issue.namespace or CLUSTER, []).append(issue)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] != CLUSTER, kv[0])))


def describe_issues(title: str, issues: list[ItemIssue], *, diffs: bool = True) -> list[str]:
    """Text lines: issues grouped by namespace, each with its diff indented."""
    if not issues:
        return []
    lines = [f"{title}:"]
    for namespace, group in group_by_namespace(issues).items():
        lines.append(f"  {namespace}:")
        for issue in group:
            what = "/".join(p for p in (issue.resource, issue.name) if p) or "(restore)"
            lines.append(f"    {what}: {issue.message}")
            if diffs and issue.diff:
                lines.extend(f"      {line}" for line in issue.diff.splitlines())
    return lines
