"""Which Backup resources the garbage collector deletes: per schedule, by its rules."""

from __future__ import annotations

import datetime
from typing import Any

from backupd.api.backup import SCHEDULE_LABEL
from backupd.controller.gc import plan

NOW = datetime.datetime(2026, 3, 31, 12, 0, tzinfo=datetime.UTC)


def backup(
    name: str,
    day: int,
    *,
    schedule: str | None = None,
    phase: str = "Completed",
    ttl_days: int = 30,
) -> dict[str, Any]:
    start = datetime.datetime(2026, 3, day, 1, 0, tzinfo=datetime.UTC)
    labels = {SCHEDULE_LABEL: schedule} if schedule else {}
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": start.isoformat()},
        "status": {
            "phase": phase,
            "startTimestamp": start.isoformat().replace("+00:00", "Z"),
            "expiration": (start + datetime.timedelta(days=ttl_days)).isoformat(),
        },
    }


def schedule(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"schedule": "@daily", **spec}}


def test_each_schedule_keeps_its_own_newest_backups() -> None:
    backups = [backup(f"a-{d}", d, schedule="a") for d in (25, 26, 27, 28)]
    backups += [backup(f"b-{d}", d, schedule="b") for d in (25, 26, 27, 28)]
    gone = plan(
        backups,
        [schedule("a", retention={"keepLast": 2}), schedule("b", retention={"keepLast": 3})],
        NOW,
    )
    assert [e.name for e in gone] == ["a-25", "a-26", "b-25"]


def test_backups_without_a_schedule_or_of_a_deleted_one_expire_by_ttl_only() -> None:
    backups = [
        backup("manual-old", 1, ttl_days=10),
        backup("manual-new", 30),
        backup("orphan", 2, schedule="gone", ttl_days=60),
    ]
    assert [e.name for e in plan(backups, [], NOW)] == ["manual-old"]


def test_an_invalid_schedule_still_lets_the_ttl_expire_its_backups() -> None:
    backups = [backup("x-1", 1, schedule="x", ttl_days=5), backup("x-29", 29, schedule="x")]
    bad_zone = schedule("x", timeZone="Mars/Olympus", retention={"keepLast": 1})
    assert [e.name for e in plan(backups, [bad_zone], NOW)] == ["x-1"]
    bad_spec = {"metadata": {"name": "x"}, "spec": {"retention": {"keepLast": 1}}}  # no cron line
    assert [e.name for e in plan(backups, [bad_spec], NOW)] == ["x-1"]


def test_a_backup_still_running_is_never_planned_for_deletion() -> None:
    backups = [
        backup("r", 1, schedule="s", phase="InProgress", ttl_days=1),
        backup("n", 2, schedule="s", phase="", ttl_days=1),
    ]
    assert plan(backups, [schedule("s", retention={"keepLast": 1})], NOW) == []
