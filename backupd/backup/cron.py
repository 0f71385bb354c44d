"""Cron lines and time zones into APScheduler triggers; which run was missed. Pure.

"0 2 * * *"        minute hour day month weekday, as crontab (0 and 7 are Sunday)
"*/20 * * * * *"   six fields: seconds first (handy for tests)
"@daily" ...       @hourly, @daily/@midnight, @weekly, @monthly, @yearly/@annually
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from backupd.errors import UserInputError
from backupd.storage.layout import MAX_NAME_LENGTH

_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserInputError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from None


def _weekdays(field: str) -> str:
    """Crontab's weekday numbers (0 or 7 Sunday) as names: APScheduler 3 counts from Monday."""
    if field in ("*", "?") or any(c.isalpha() for c in field):
        return "*" if field == "?" else field
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, _, b = base.partition("-")
            lo, hi = int(a), int(b)
        else:
            lo = int(base)
            hi = 6 if step_text else lo
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi and step > 0):
            raise ValueError(f"weekday {part!r} out of range 0-7")
        days.update(n % 7 for n in range(lo, hi + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def trigger(expression: str, time_zone: str = "UTC") -> CronTrigger:
    """A CronTrigger for `expression` in `time_zone`; UserInputError says what is wrong."""
    tz = zone(time_zone)
    text = _ALIASES.get(expression.strip(), expression.strip())
    fields = text.split()
    if len(fields) not in (5, 6):
        raise UserInputError(
            f"invalid schedule {expression!r}: a cron line has 5 fields "
            "(minute hour day month weekday), or 6 with seconds first"
        )
    seconds = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            second=seconds,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=tz,
        )
    except ValueError as e:
        raise UserInputError(f"invalid schedule {expression!r}: {e}") from None


def next_run(trig: CronTrigger, after: datetime.datetime) -> datetime.datetime | None:
    """The first time the trigger fires strictly after `after`."""
    fire: datetime.datetime | None = trig.get_next_fire_time(
        None, after + datetime.timedelta(microseconds=1)
    )
    return fire


def missed_run(
    trig: CronTrigger, last: datetime.datetime, now: datetime.datetime
) -> datetime.datetime | None:
    """The newest run due after `last` and before `now` (None: nothing missed). However
    many were missed, this is the one to run, once."""
    fire = next_run(trig, last)
    if fire is None or fire >= now:
        return None
    newest = fire
    while True:
        following = next_run(trig, newest)
        if following is None or following >= now:
            return newest
        newest = following


def backup_name(schedule: str, at: datetime.datetime) -> str:
    """`<schedule>-<YYYYMMDDHHMMSS>` (UTC), the schedule's name shortened to stay valid."""
    stamp = at.astimezone(datetime.UTC).strftime("%Y%m%d%H%M%S")
    return f"{schedule[: MAX_NAME_LENGTH - len(stamp) - 1].rstrip('-.')}-{stamp}"
