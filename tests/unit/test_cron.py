"""Cron lines with time zones, the run missed while the controller was down, run names."""

from __future__ import annotations

import datetime

import pytest

from backupd.backup import cron
from backupd.errors import UserInputError

UTC = datetime.UTC


def t(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


def test_a_nightly_cron_fires_at_two_in_its_time_zone() -> None:
    trig = cron.trigger("0 2 * * *", "Europe/Paris")
    assert cron.next_run(trig, t("2026-07-01T12:00:00+00:00")) == t("2026-07-02T02:00:00+02:00")


def test_crontab_weekday_numbers_count_from_sunday() -> None:
    # 2026-03-01 is a Sunday: "0" is Sunday, "1-5" is Monday to Friday, "7" is Sunday too
    assert cron.next_run(cron.trigger("0 3 * * 0"), t("2026-02-27T00:00:00+00:00")) == t(
        "2026-03-01T03:00:00+00:00"
    )
    assert cron.next_run(cron.trigger("0 3 * * 7"), t("2026-02-27T00:00:00+00:00")) == t(
        "2026-03-01T03:00:00+00:00"
    )
    assert cron.next_run(cron.trigger("0 3 * * 1-5"), t("2026-02-28T00:00:00+00:00")) == t(
        "2026-03-02T03:00:00+00:00"
    )


def test_six_fields_put_seconds_first() -> None:
    trig = cron.trigger("*/20 * * * * *")
    assert cron.next_run(trig, t("2026-03-01T00:00:05+00:00")) == t("2026-03-01T00:00:20+00:00")


def test_aliases_as_velero_takes_them() -> None:
    assert cron.next_run(cron.trigger("@daily"), t("2026-03-01T05:00:00+00:00")) == t(
        "2026-03-02T00:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("expression", "zone", "says"),
    [
        ("0 2 * *", "UTC", "a cron line has 5 fields"),
        ("61 * * * *", "UTC", "invalid schedule '61 * * * *'"),
        ("0 2 * * 9", "UTC", "out of range"),
        ("0 2 * * *", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("not a cron", "UTC", "invalid schedule"),
    ],
)
def test_a_bad_cron_or_time_zone_is_one_clear_error(expression: str, zone: str, says: str) -> None:
    with pytest.raises(UserInputError) as e:
        cron.trigger(expression, zone)
    assert says in str(e.value)


def test_many_missed_runs_come_back_as_the_newest_one_only() -> None:
    hourly = cron.trigger("0 * * * *")
    missed = cron.missed_run(hourly, t("2026-03-01T00:00:00+00:00"), t("2026-03-01T05:30:00+00:00"))
    assert missed == t("2026-03-01T05:00:00+00:00")


def test_nothing_is_missed_before_the_next_run_is_due() -> None:
    nightly = cron.trigger("0 2 * * *")
    assert (
        cron.missed_run(nightly, t("2026-03-01T02:00:00+00:00"), t("2026-03-01T23:00:00+00:00"))
        is None
    )


def test_run_names_are_the_schedule_and_the_utc_time() -> None:
    at = datetime.datetime(
        2026, 3, 1, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert cron.backup_name("nightly", at) == "nightly-20260301010405"
    long = cron.backup_name("x" * 70, at)
    assert len(long) <= 63 and long.endswith("-20260301010405")
