"""Schedules: the plan's `schedule:` text, checked and turned into APScheduler triggers.

This is the only module that imports APScheduler. Accepted forms:

- a 5-field cron expression, `minute hour day-of-month month day-of-week` (`0 2 * * *`);
- an alias: `@hourly`, `@daily` (or `@midnight`), `@weekly`, `@monthly`, `@yearly` (or `@annually`);
- an interval: `every 6h`, `every 30m`, `every 1d12h` (at least one second).

Cron schedules run in the plan's timezone (`settings.timezone`); intervals are counted from an
anchor: the start of the job's last run (see docs/scheduling.md).

The second half of the module is the live scheduler the daemon runs (`new_scheduler` and friends):
APScheduler 3's AsyncIOScheduler with every job limited to one instance, missed and overlapping
fires reported to the caller (never only logged), and triggers that never walk every slot of a
large clock jump.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
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
    return fire_times_and_next(schedule, timezone, after, until, limit=limit)[0]


def fire_times_and_next(
    schedule: Schedule, timezone: tzinfo, after: datetime, until: datetime | None, *, limit: int
) -> tuple[list[datetime], datetime | None]:
    """Like `fire_times`, and the first fire time after `until` when the walk reached it (None
    when it stopped at `limit`, or the schedule has no further fire time)."""
    if schedule.kind == "interval":
        raise ValueError("interval schedules have no fixed fire times")
    trigger = cached_trigger(schedule, timezone)
    times: list[datetime] = []
    previous: datetime | None = None
    # Step in UTC: adding a timedelta to a local time is wall-clock arithmetic, which drops the
    # fold and loops forever in the repeated hour of a fall-back day.
    moment = after.astimezone(UTC) + timedelta(microseconds=1)
    while len(times) < limit:
        upcoming = trigger.get_next_fire_time(previous, moment)
        if upcoming is None:
            return times, None
        if until is not None and upcoming > until:
            # the repeated hour's second fire is no slot: whoever wants the next one asks again
            return times, None if repeats_wall_time(schedule, upcoming) else upcoming
        previous = upcoming
        moment = upcoming.astimezone(UTC) + timedelta(microseconds=1)
        if repeats_wall_time(schedule, upcoming):
            continue  # the repeated hour after a fall-back: this wall-clock time already fired
        times.append(upcoming)
    return times, None


def repeats_wall_time(schedule: Schedule, moment: datetime) -> bool:
    """True when `moment` is the second occurrence of a wall-clock time (the repeated hour of a
    fall-back day) and `schedule` runs at fixed hours: such a schedule runs once per wall-clock
    time, at its first occurrence, like cron."""
    if not schedule.fixed_time or not moment.fold:
        return False
    return moment.replace(fold=0).utcoffset() != moment.utcoffset()


def latest_fire_time(
    schedule: Schedule, timezone: tzinfo, after: datetime, until: datetime
) -> datetime | None:
    """Return the last cron fire time in (after, until], or None; the search looks back in growing
    windows, so its cost does not grow with the distance between `after` and `until`."""
    window = timedelta(hours=1)
    while True:
        start = max(after, until - window)
        times = fire_times(schedule, timezone, start, until, limit=100_000)
        if times or start == after:
            return times[-1] if times else None
        window *= 8


@functools.lru_cache(maxsize=4096)
def cached_trigger(schedule: Schedule, timezone: tzinfo) -> Any:
    """The CronTrigger of a cron schedule, built once (they are immutable; plans repeat schedules)."""
    return make_trigger(schedule, timezone)


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
        cached_trigger(Schedule(text=cron, kind="cron", cron=cron), timezone)  # scheduling reuses it
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


# -- the live scheduler (the daemon) ---------------------------------------------------------------

# How late a fire may start before APScheduler reports it missed instead of running it: the event
# loop may be busy for a moment (a site rebuild), but a fire later than this is a suspend or a clock
# jump, and those are caught up from the journal.
MISFIRE_GRACE = 30.0


@dataclass(frozen=True)
class SchedulerHooks:
    """What the live scheduler reports, each with the scheduler job's key: a fire handed to its
    function (`submitted`, with the slot), a fire too late to run (`missed`), a fire while the
    previous one still runs (`overlap`), and a function that raised (`failed`)."""

    submitted: Callable[[str, datetime], None]
    missed: Callable[[str, datetime], None]
    overlap: Callable[[str, list[datetime]], None]
    failed: Callable[[str, BaseException], None]


def new_scheduler(timezone: tzinfo, hooks: SchedulerHooks) -> Any:
    """Return an AsyncIOScheduler (not started) whose jobs run one instance at a time, coalesce
    late fires and report every event through `hooks`; start it inside the running event loop."""
    import logging

    from apscheduler.events import (
        EVENT_JOB_ERROR,
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        EVENT_JOB_SUBMITTED,
    )
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    # Missed and overlapping fires reach the journal through `hooks`; APScheduler's own warnings
    # about them would only repeat that on stderr.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = AsyncIOScheduler(
        timezone=timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
    )

    def listen(event: Any) -> None:
        # Submission events carry a list of run times, execution events a single one.
        if event.code == EVENT_JOB_SUBMITTED:
            hooks.submitted(event.job_id, event.scheduled_run_times[-1])
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            hooks.overlap(event.job_id, list(event.scheduled_run_times))
        elif event.code == EVENT_JOB_MISSED:
            hooks.missed(event.job_id, event.scheduled_run_time)
        elif event.code == EVENT_JOB_ERROR and event.exception is not None:
            hooks.failed(event.job_id, event.exception)

    scheduler.add_listener(
        listen, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_ERROR
    )
    return scheduler


def schedule_slots(
    scheduler: Any,
    key: str,
    schedule: Schedule,
    timezone: tzinfo,
    function: Callable[[str], Awaitable[None]],
    *,
    anchor: datetime,
) -> datetime | None:
    """Add (or replace) the scheduler job `key` that awaits `function(key)` at every slot of
    `schedule`; return its next fire time. Intervals are counted from `anchor` (the start of the
    job's last run): `every 6h` fires at anchor + 6h, + 12h, …"""
    if schedule.kind == "interval":
        from apscheduler.triggers.interval import IntervalTrigger

        first = anchor + timedelta(seconds=schedule.interval)  # the anchor itself is not a slot
        inner = IntervalTrigger(seconds=schedule.interval, start_date=first, timezone=timezone)
    else:
        inner = cached_trigger(schedule, timezone)
    trigger = _bounded_trigger_class()(inner)
    job = scheduler.add_job(function, trigger, args=(key,), id=key, name=key, replace_existing=True)
    next_run: datetime | None = getattr(job, "next_run_time", None)  # unset until the scheduler starts
    return next_run


def schedule_once(scheduler: Any, key: str, at: datetime, function: Callable[[str], Awaitable[None]]) -> None:
    """Add (or replace) the scheduler job `key` that awaits `function(key)` once, at `at` (or at
    once when `at` has passed)."""
    from apscheduler.triggers.date import DateTrigger

    scheduler.add_job(
        function,
        DateTrigger(run_date=at),
        args=(key,),
        id=key,
        name=key,
        replace_existing=True,
        misfire_grace_time=None,  # a wake-up that comes late must still come
    )


def unschedule(scheduler: Any, key: str) -> None:
    """Remove the scheduler job `key`, if there is one."""
    from apscheduler.jobstores.base import JobLookupError

    with contextlib.suppress(JobLookupError):
        scheduler.remove_job(key)


def scheduled_keys(scheduler: Any) -> set[str]:
    """The keys of the scheduler's jobs."""
    return {job.id for job in scheduler.get_jobs()}


def skip_ahead(scheduler: Any, now: datetime) -> None:
    """Move every job's next fire past `now` (after a clock jump, whose missed slots are caught up
    from the journal instead of being fired or reported one by one)."""
    for job in scheduler.get_jobs():
        if getattr(job, "next_run_time", None) is not None and job.next_run_time < now:
            upcoming = job.trigger.get_next_fire_time(None, now)
            if upcoming is None:
                job.remove()
            else:
                job.modify(next_run_time=upcoming)


@functools.cache
def _bounded_trigger_class() -> type:
    """A trigger wrapper that never yields a fire time far behind `now`. After a large forward
    clock jump APScheduler 3 asks its trigger for every slot in between, one by one, before it
    reports the job missed: years of a per-minute job would block the event loop for minutes."""
    from apscheduler.triggers.base import BaseTrigger

    class BoundedTrigger(BaseTrigger):  # type: ignore[misc]
        __slots__ = ("inner",)

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
            upcoming: datetime | None = self.inner.get_next_fire_time(previous_fire_time, now)
            horizon = timedelta(seconds=MISFIRE_GRACE)
            if previous_fire_time is not None and upcoming is not None and upcoming < now - horizon:
                upcoming = self.inner.get_next_fire_time(None, now)
            return upcoming

        def __str__(self) -> str:
            return str(self.inner)

    return BoundedTrigger
