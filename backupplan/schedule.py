"""Schedules: the plan's `schedule:` text, checked and turned into APScheduler triggers.

This is the only module that imports APScheduler. Accepted forms:

- a 5-field cron expression, `minute hour day-of-month month day-of-week` (`0 2 * * *`);
- an alias: `@hourly`, `@daily` (or `@midnight`), `@weekly`, `@monthly`, `@yearly` (or `@annually`);
- an interval: `every 6h`, `every 30m`, `every 1d12h` (at least one second).

Cron schedules run in the plan's timezone (`settings.timezone`); intervals are counted from the
moment the scheduler starts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from backupplan.units import DURATION_HINT, parse_duration

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

CRON_HINT = "cron has 5 fields: minute hour day-of-month month day-of-week, e.g. '0 2 * * *'"
SCHEDULE_HINT = (
    "write a cron expression like '0 2 * * *', an alias like @daily, or an interval like 'every 6h'"
)


class ScheduleError(ValueError):
    """A schedule text that cannot be used; `hint` says what would work."""

    def __init__(self, message: str, hint: str = SCHEDULE_HINT) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Schedule:
    """A checked schedule: `kind` is cron or interval; `cron` or `interval` holds its value."""

    text: str
    kind: Literal["cron", "interval"]
    cron: str = ""
    interval: float = 0.0

    def trigger(self, timezone: tzinfo) -> Any:
        """Return the APScheduler trigger for this schedule in `timezone`."""
        return make_trigger(self, timezone)

    @property
    def fixed_time(self) -> bool:
        """True for cron schedules at fixed hours (`30 2 * * *`), which run once per wall-clock time."""
        return self.kind == "cron" and "*" not in self.cron.split(" ")[1]

    def next_runs(self, timezone: tzinfo, after: datetime, count: int = 3) -> list[datetime]:
        """Return the next `count` fire times strictly after `after` (intervals are counted from
        `after`)."""
        if self.kind == "interval":
            return [after + timedelta(seconds=self.interval * (index + 1)) for index in range(count)]
        return fire_times(self, timezone, after, None, limit=count)


def fire_times(
    schedule: Schedule, timezone: tzinfo, after: datetime, until: datetime | None, *, limit: int
) -> list[datetime]:
    """Return the cron fire times in (after, until], at most `limit` of them.

    Like cron, a fixed-time schedule fires once per local wall-clock time: on the day clocks fall
    back, `30 2 * * *` runs at the first 02:30 only (APScheduler alone fires at both). Schedules
    with a wildcard hour fire at every real slot. The limit bounds the work after a large clock jump.
    """
    if schedule.kind == "interval":
        raise ValueError("interval schedules have no fixed fire times")
    trigger = schedule.trigger(timezone)
    times: list[datetime] = []
    previous: datetime | None = None
    # Step in UTC: adding a timedelta to a local time is wall-clock arithmetic, which drops the
    # fold and loops forever in the repeated hour of a fall-back day.
    moment = after.astimezone(UTC) + timedelta(microseconds=1)
    while len(times) < limit:
        upcoming = trigger.get_next_fire_time(previous, moment)
        if upcoming is None or (until is not None and upcoming > until):
            break
        previous = upcoming
        moment = upcoming.astimezone(UTC) + timedelta(microseconds=1)
        if schedule.fixed_time and times and _wall(times[-1]) == _wall(upcoming):
            continue  # the repeated hour after a fall-back: this wall-clock time already fired
        times.append(upcoming)
    return times


def _wall(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def parse_schedule(text: str, timezone: tzinfo) -> Schedule:
    """Given a plan's schedule text, return a Schedule; raise ScheduleError with a hint otherwise."""
    stripped = " ".join(text.split())
    if not stripped:
        raise ScheduleError("schedule is empty", "leave it out (or write null) for a manual-only job")
    lowered = stripped.lower()
    if lowered.startswith("@"):
        if lowered not in ALIASES:
            raise ScheduleError(f"unknown alias {stripped!r}", "aliases are " + ", ".join(sorted(ALIASES)))
        return Schedule(text=stripped, kind="cron", cron=ALIASES[lowered])
    if lowered.startswith("every"):
        amount = stripped[len("every") :].strip()
        try:
            seconds = parse_duration(amount) if amount else -1.0
        except ValueError:
            seconds = -1.0
        if seconds < 1:
            raise ScheduleError(
                f"{stripped!r} is not an interval",
                "write 'every' and a duration, e.g. 'every 6h'; " + DURATION_HINT,
            )
        return Schedule(text=stripped, kind="interval", interval=seconds)
    fields = stripped.split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            f"{stripped!r} has {len(fields)} field{'s' if len(fields) != 1 else ''}, not 5", CRON_HINT
        )
    problem = _cron_problem(stripped, timezone)
    if problem:
        raise ScheduleError(f"{stripped!r} is not a valid cron expression: {problem}", CRON_HINT)
    return Schedule(text=stripped, kind="cron", cron=stripped)


@functools.lru_cache(maxsize=1024)
def _cron_problem(cron: str, timezone: tzinfo) -> str:
    """APScheduler's complaint about a 5-field cron expression, or "" (cached: plans repeat schedules)."""
    try:
        make_trigger(Schedule(text=cron, kind="cron", cron=cron), timezone)
    except ValueError as error:
        return str(error)
    return ""


def make_trigger(schedule: Schedule, timezone: tzinfo) -> Any:
    """Return an APScheduler CronTrigger or IntervalTrigger for `schedule`."""
    if schedule.kind == "interval":
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(seconds=schedule.interval, timezone=timezone)
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekday = schedule.cron.split(" ")
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekday), timezone=timezone
    )


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekdays(field: str) -> str:
    """Translate a crontab day-of-week field (0 or 7 = Sunday, 1 = Monday) to APScheduler's, where
    0 is Monday: `from_crontab` passes numbers through unchanged, so `1-5` would mean Tue-Sat."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        range_part, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if range_part == "*":
            low, high = 0, 6
        elif "-" in range_part:
            low_text, high_text = range_part.split("-", 1)
            low, high = _day_number(low_text), _day_number(high_text)
            if high == 0 and low > 0:
                high = 7  # `5-0` / `fri-sun`
        else:
            low = high = _day_number(range_part)
            if step_text:
                high = 6
        if low > high or step < 1:
            raise ValueError(f"bad day-of-week range {part!r}")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


def _day_number(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text[:3] in _DAY_NAMES:
        return _DAY_NAMES.index(text[:3])
    raise ValueError(f"unknown day of week {text!r}")


def resolve_timezone(name: str) -> tzinfo:
    """Given `local`, `UTC` or an IANA name like `Europe/Berlin`, return the tzinfo; raise
    ScheduleError otherwise."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name == "local":
        import tzlocal

        zone: tzinfo = tzlocal.get_localzone()
        return zone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown timezone {name!r}", "use an IANA name like Europe/Berlin or UTC, or 'local'"
        ) from None
