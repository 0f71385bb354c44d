"""Which backups expire: a backup's TTL, then a schedule's keep-last-N and GFS rules.

Pure: a list of backups and a clock in, the ones to delete (and why) out.

- A backup whose expiration has passed is deleted, whatever the schedule keeps (the
  TTL is the longest a backup lives).
- Among one schedule's finished backups (Completed or PartiallyFailed), a backup
  is kept while any rule keeps it: the newest `keep_last`; the newest of each of the
  last `keep_daily` days, `keep_weekly` ISO weeks, `keep_monthly` months that have a
  backup (days and weeks in the schedule's time zone). The rest are pruned.
  A schedule without rules prunes nothing.
- Failed backups of a schedule with rules are pruned once a newer backup is kept.
- A backup still running (New, InProgress) is never deleted.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from backupd.api.common import Phase
from backupd.api.schedule import Retention

KEEPABLE = frozenset({Phase.completed, Phase.partially_failed})


@dataclass(frozen=True)
class Candidate:
    name: str
    created: datetime.datetime
    phase: Phase
    expiration: datetime.datetime | None = None


@dataclass(frozen=True)
class Expired:
    name: str
    reason: str


def _newest_per(
    finished: Sequence[Candidate], count: int, period: Callable[[Candidate], Hashable]
) -> set[str]:
    """The newest backup of each of the `count` newest periods (finished is newest first)."""
    kept: dict[Hashable, str] = {}
    for c in finished:
        key = period(c)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = c.name
    return set(kept.values())


def kept_by_rules(
    backups: Iterable[Candidate], rules: Retention, tz: datetime.tzinfo = datetime.UTC
) -> dict[str, str]:
    """Name -> the first rule that keeps it, among one schedule's finished backups."""
    finished = sorted(
        (b for b in backups if b.phase in KEEPABLE), key=lambda b: (b.created, b.name), reverse=True
    )

    def local(c: Candidate) -> datetime.date:
        return c.created.astimezone(tz).date()

    plans: list[tuple[str, int | None, Callable[[Candidate], Hashable]]] = [
        ("keepDaily", rules.keep_daily, local),
        ("keepWeekly", rules.keep_weekly, lambda c: local(c).isocalendar()[:2]),
        ("keepMonthly", rules.keep_monthly, lambda c: (local(c).year, local(c).month)),
    ]
    kept: dict[str, str] = {}
    if rules.keep_last is not None:
        for c in finished[: rules.keep_last]:
            kept.setdefault(c.name, f"keepLast={rules.keep_last}")
    for label, count, period in plans:
        if count is not None:
            for name in sorted(_newest_per(finished, count, period)):
                kept.setdefault(name, f"{label}={count}")
    return kept


def expired(
    backups: Iterable[Candidate],
    now: datetime.datetime,
    rules: Retention | None = None,
    tz: datetime.tzinfo | str = datetime.UTC,
) -> list[Expired]:
    """What to delete among one schedule's backups (or unscheduled ones: rules None),
    sorted by name."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    items = list(backups)
    out: dict[str, str] = {}
    for b in items:
        if b.phase.final and b.expiration is not None and b.expiration <= now:
            out[b.name] = f"its TTL expired at {b.expiration.isoformat()}"
    if rules is not None and rules.any:
        kept = kept_by_rules(items, rules, zone)
        newest_kept = max((b.created for b in items if b.name in kept), default=None)
        for b in items:
            if b.name in out or b.name in kept or not b.phase.final:
                continue
            if b.phase in KEEPABLE:
                out[b.name] = f"not kept by the schedule's retention ({_describe(rules)})"
            elif newest_kept is not None and b.created < newest_kept:
                out[b.name] = "failed, and a newer backup of its schedule is kept"
    return [Expired(name, why) for name, why in sorted(out.items())]


def _describe(rules: Retention) -> str:
    parts = [
        f"{label}={value}"
        for label, value in (
            ("keepLast", rules.keep_last),
            ("keepDaily", rules.keep_daily),
            ("keepWeekly", rules.keep_weekly),
            ("keepMonthly", rules.keep_monthly),
        )
        if value is not None
    ]
    return ", ".join(parts)
