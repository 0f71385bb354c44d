"""Retention: TTL per backup, keep-last-N and daily/weekly/monthly per schedule."""

from __future__ import annotations

import datetime

import pytest

from backupd.api.common import Phase
from backupd.api.schedule import Retention
from backupd.backup.retention import Candidate, expired, kept_by_rules

UTC = datetime.UTC
NOW = datetime.datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def at(day: str, hour: int = 1) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def bk(
    name: str, created: datetime.datetime, phase: Phase = Phase.completed, ttl_days: int = 365
) -> Candidate:
    return Candidate(name, created, phase, created + datetime.timedelta(days=ttl_days))


def nightly(first: str, days: int) -> list[Candidate]:
    start = at(first)
    return [bk(f"n-{i:02d}", start + datetime.timedelta(days=i)) for i in range(days)]


def deleted(backups: list[Candidate], rules: Retention | None = None, tz: str = "UTC") -> list[str]:
    return [e.name for e in expired(backups, NOW, rules, tz)]


def test_a_backup_past_its_ttl_is_deleted_and_says_when() -> None:
    old = bk("old", at("2026-03-01"), ttl_days=10)
    young = bk("young", at("2026-03-30"), ttl_days=10)
    result = expired([old, young], NOW)
    assert [e.name for e in result] == ["old"]
    assert "TTL expired at 2026-03-11" in result[0].reason


def test_a_running_backup_is_never_deleted_even_past_its_ttl() -> None:
    running = bk("running", at("2026-01-01"), Phase.in_progress, ttl_days=1)
    new = bk("new", at("2026-01-01"), Phase.new, ttl_days=1)
    assert deleted([running, new], Retention(keep_last=1)) == []


def test_without_rules_only_the_ttl_deletes() -> None:
    assert deleted(nightly("2026-03-01", 30), Retention()) == []


@pytest.mark.parametrize(
    ("rules", "kept"),
    [
        (Retention(keep_last=3), ["n-27", "n-28", "n-29"]),
        (Retention(keep_last=1), ["n-29"]),
        (Retention(keep_last=100), [f"n-{i:02d}" for i in range(30)]),
        # 30 nightlies, Sunday 2026-03-01 to Monday 03-30: weeks end on Sundays (n-21, n-28)
        (Retention(keep_weekly=2), ["n-28", "n-29"]),
        (Retention(keep_weekly=3), ["n-21", "n-28", "n-29"]),
        (Retention(keep_daily=3, keep_weekly=3), ["n-21", "n-27", "n-28", "n-29"]),
        # all in March: however many months are asked for, one month keeps one backup
        (Retention(keep_monthly=3), ["n-29"]),
        (Retention(keep_last=2, keep_monthly=1), ["n-28", "n-29"]),
    ],
)
def test_gfs_rules_keep_the_union_of_what_each_rule_keeps(
    rules: Retention, kept: list[str]
) -> None:
    backups = nightly("2026-03-01", 30)
    assert sorted(kept_by_rules(backups, rules)) == kept
    assert deleted(backups, rules) == sorted(set(b.name for b in backups) - set(kept))


def test_monthly_keeps_the_newest_backup_of_each_month() -> None:
    backups = [
        bk("jan-a", at("2026-01-05")),
        bk("jan-b", at("2026-01-30")),
        bk("feb", at("2026-02-10")),
        bk("mar", at("2026-03-20")),
    ]
    assert sorted(kept_by_rules(backups, Retention(keep_monthly=2))) == ["feb", "mar"]


def test_days_are_counted_in_the_schedules_time_zone() -> None:
    # 23:30 UTC on the 10th is already the 11th in Tokyo: both are one Tokyo day
    late = bk("late", datetime.datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    next_morning = bk("morning", datetime.datetime(2026, 3, 11, 2, 0, tzinfo=UTC))
    assert deleted([late, next_morning], Retention(keep_daily=2), "UTC") == []
    assert deleted([late, next_morning], Retention(keep_daily=2), "Asia/Tokyo") == ["late"]


def test_failed_backups_do_not_count_and_go_once_a_newer_one_is_kept() -> None:
    backups = [
        bk("a", at("2026-03-27")),
        bk("b", at("2026-03-28"), Phase.failed),
        bk("c", at("2026-03-29")),
        bk("d", at("2026-03-30"), Phase.failed),
    ]
    assert deleted(backups, Retention(keep_last=2)) == ["b"]


def test_partially_failed_backups_count_as_kept_backups() -> None:
    backups = [bk("a", at("2026-03-28")), bk("b", at("2026-03-29"), Phase.partially_failed)]
    assert deleted(backups, Retention(keep_last=1)) == ["a"]


def test_the_ttl_wins_over_a_rule_that_would_keep() -> None:
    backups = [bk("short", at("2026-03-20"), ttl_days=1), bk("long", at("2026-03-10"))]
    result = expired(backups, NOW, Retention(keep_last=5))
    assert [(e.name, "TTL" in e.reason) for e in result] == [("short", True)]


def test_a_pruned_backup_names_the_rules_that_did_not_keep_it() -> None:
    result = expired(nightly("2026-03-01", 3), NOW, Retention(keep_last=1, keep_weekly=1))
    assert {e.reason for e in result} == {
        "not kept by the schedule's retention (keepLast=1, keepWeekly=1)"
    }
