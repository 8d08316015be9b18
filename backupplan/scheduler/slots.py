"""Slots: the moments a schedule asks a job to run, found between two times with bounded work.

A cron schedule's slots are its fire times in the plan's timezone (a fixed-time schedule runs once
per wall-clock time, so a fall-back day has one 02:30, not two). An interval schedule's slots are
counted from an anchor, the start of the job's last run: `every 6h` has slots at anchor + 6h,
anchor + 12h, … After a long downtime (or a clock jump of years) at most `COUNT_LIMIT` slots are
enumerated; beyond that the count is a lower bound and only the first and the last are known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from backupplan.plan.schedule import Schedule, fire_times_and_next, latest_fire_time

COUNT_LIMIT = 1000  # slots enumerated at most; past it the count says "at least"
ON_TIME = 120.0  # seconds: the latest slot, when this recent, is run as scheduled rather than missed
# An interval slot a little in the future counts as reached: cron or a systemd timer starting
# `apply` every 6 hours starts it a moment *before* the last run's start plus 6 hours.
INTERVAL_TOLERANCE = 60.0
INTERVAL_TOLERANCE_SHARE = 0.05


@dataclass(frozen=True)
class Slots:
    """Slots in a span of time, oldest first: `times` holds the first ones (at most COUNT_LIMIT),
    `count` how many there are (at least, when `more`), `last` the latest one."""

    times: tuple[datetime, ...] = ()
    count: int = 0
    more: bool = False
    last: datetime | None = None
    upcoming: datetime | None = None  # the first slot after the span, when finding these found it

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def first(self) -> datetime | None:
        return self.times[0] if self.times else None

    def describe(self) -> str:
        """`1 slot`, `3 slots`, `at least 1000 slots`."""
        plural = "slot" if self.count == 1 and not self.more else "slots"
        return f"{'at least ' if self.more else ''}{self.count} {plural}"


NO_SLOTS = Slots()


def tolerance(schedule: Schedule) -> float:
    """How early an interval slot may be reached (0 for cron schedules)."""
    if schedule.kind != "interval":
        return 0.0
    return min(INTERVAL_TOLERANCE, schedule.interval * INTERVAL_TOLERANCE_SHARE)


def slots_between(schedule: Schedule, timezone: tzinfo, after: datetime, until: datetime) -> Slots:
    """Given a schedule and a span (after, until], return its slots; for an interval schedule
    `after` is the anchor the slots are counted from."""
    if until <= after:
        return NO_SLOTS
    if schedule.kind == "interval":
        step = timedelta(seconds=schedule.interval)
        reach = (until - after).total_seconds() + tolerance(schedule)
        count = max(0, math.floor(reach / schedule.interval))
        listed = min(count, COUNT_LIMIT)
        times = tuple(after + step * index for index in range(1, listed + 1))
        last = after + step * count if count else None
        return Slots(times, count, False, last, after + step * (count + 1))
    found, upcoming = fire_times_and_next(schedule, timezone, after, until, limit=COUNT_LIMIT + 1)
    # In UTC from here on: aware datetimes in a repeated or skipped hour never compare equal to
    # another zone's, and the journal speaks UTC anyway.
    times = tuple(moment.astimezone(UTC) for moment in found)
    following = upcoming.astimezone(UTC) if upcoming is not None else None
    if len(times) <= COUNT_LIMIT:
        return Slots(times, len(times), False, times[-1] if times else None, following)
    last = latest_fire_time(schedule, timezone, after, until)
    return Slots(times[:COUNT_LIMIT], COUNT_LIMIT, True, last.astimezone(UTC) if last else None)


def on_time_window(schedule: Schedule) -> float:
    """How recent the latest slot must be to run as scheduled (never longer than an interval)."""
    if schedule.kind == "interval":
        return min(ON_TIME, schedule.interval)
    return ON_TIME


def due_slots(
    schedule: Schedule, timezone: tzinfo, anchor: datetime, now: datetime
) -> tuple[datetime | None, Slots]:
    """Given a job's schedule, its anchor (the start of its last run) and now, return the slot to
    run on time (the latest slot, when it is recent) and the slots missed before it. With no slot
    since the anchor, the Slots returned is empty but carries the next slot (`upcoming`)."""
    slots = slots_between(schedule, timezone, anchor, now)
    if not slots or slots.last is None:  # none since the anchor: pass on the next one, if known
        return None, Slots(upcoming=slots.upcoming) if slots.upcoming else NO_SLOTS
    if (now - slots.last).total_seconds() > on_time_window(schedule):
        return None, slots
    on_time = slots.last
    if slots.count == 1:
        return on_time, NO_SLOTS
    if not slots.more and len(slots.times) == slots.count:  # every slot is listed
        earlier = slots.times[:-1]
        return on_time, Slots(earlier, len(earlier), False, earlier[-1])
    return on_time, slots_between(schedule, timezone, anchor, on_time - timedelta(microseconds=1))
