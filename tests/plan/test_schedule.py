from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backupplan.plan.schedule import ScheduleError, fire_times, parse_schedule, resolve_timezone

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("0 2 * * *", "cron", "0 2 * * *"),
        ("@daily", "cron", "0 0 * * *"),
        ("@WEEKLY", "cron", "0 0 * * 0"),
        ("every 6h", "interval", 21600.0),
        ("every 1d12h", "interval", 129600.0),
        ("  0   2 * * 1-5 ", "cron", "0 2 * * 1-5"),
    ],
)
def test_parse(text: str, kind: str, value: object) -> None:
    schedule = parse_schedule(text, UTC)
    assert schedule.kind == kind
    assert (schedule.cron if kind == "cron" else schedule.interval) == value


@pytest.mark.parametrize("text", ["", "@sometimes", "every", "every 0s", "* * *", "0 24 * * *", "0 0 32 * *"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(text, UTC)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_daily_job_runs_once_on_fall_back_day() -> None:
    schedule = parse_schedule("30 2 * * *", BERLIN)
    times = fire_times(schedule, BERLIN, berlin(2025, 10, 25, 12, 0), berlin(2025, 10, 27, 12, 0), limit=10)
    assert [t.astimezone(UTC).isoformat() for t in times] == [
        "2025-10-26T00:30:00+00:00",  # 02:30 CEST, the first 02:30 of the day
        "2025-10-27T01:30:00+00:00",
    ]


def test_daily_job_runs_once_on_spring_forward_day() -> None:
    schedule = parse_schedule("30 2 * * *", BERLIN)
    times = fire_times(schedule, BERLIN, berlin(2025, 3, 29, 12, 0), berlin(2025, 3, 31, 12, 0), limit=10)
    assert [t.astimezone(UTC).isoformat() for t in times] == [
        "2025-03-30T01:30:00+00:00",  # 02:30 does not exist that day: it runs at 03:30 CEST, once
        "2025-03-31T00:30:00+00:00",
    ]


def test_hourly_job_keeps_every_real_slot_on_fall_back() -> None:
    schedule = parse_schedule("30 * * * *", BERLIN)
    start = datetime(2025, 10, 25, 23, 0, tzinfo=UTC)
    times = fire_times(schedule, BERLIN, start, start + timedelta(hours=4), limit=10)
    assert [t.astimezone(UTC).strftime("%H:%M") for t in times] == ["23:30", "00:30", "01:30", "02:30"]


def test_large_jump_is_bounded() -> None:
    schedule = parse_schedule("* * * * *", UTC)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    times = fire_times(schedule, UTC, start, start + timedelta(days=3650), limit=100)
    assert len(times) == 100


def test_next_runs_of_interval_and_cron() -> None:
    after = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_schedule("every 6h", UTC).next_runs(UTC, after, 2) == [
        after + timedelta(hours=6),
        after + timedelta(hours=12),
    ]
    assert parse_schedule("@daily", UTC).next_runs(UTC, after, 1) == [datetime(2026, 11, 29, tzinfo=UTC)]


def test_timezones() -> None:
    assert resolve_timezone("UTC") == ZoneInfo("UTC")
    assert resolve_timezone("local") is not None
    with pytest.raises(ScheduleError):
        resolve_timezone("Nowhere/Special")


@pytest.mark.parametrize(
    ("weekday_field", "expected_days"),
    [
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("sat,sun", ["Sat", "Sun"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("5-0", ["Fri", "Sat", "Sun"]),
        ("mon-wed", ["Mon", "Tue", "Wed"]),
        ("1/3", ["Mon", "Thu"]),
    ],
)
def test_crontab_weekday_numbers_mean_what_cron_means(weekday_field: str, expected_days: list[str]) -> None:
    """0 and 7 are Sunday, 1 is Monday (APScheduler's own numbering starts at Monday)."""
    schedule = parse_schedule(f"0 12 * * {weekday_field}", UTC)
    monday = datetime(2026, 1, 5, tzinfo=UTC)
    week = [
        moment.strftime("%a")
        for moment in schedule.next_runs(UTC, monday - timedelta(seconds=1), 7)
        if moment < monday + timedelta(days=7)
    ]
    assert sorted(week, key=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].index) == sorted(
        expected_days, key=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].index
    )


def test_repeats_wall_time_only_for_the_second_fixed_time_fire() -> None:
    from backupplan.plan.schedule import repeats_wall_time

    daily = parse_schedule("30 2 * * *", BERLIN)
    hourly = parse_schedule("30 * * * *", BERLIN)
    first = datetime(2025, 10, 26, 0, 30, tzinfo=UTC).astimezone(BERLIN)
    second = datetime(2025, 10, 26, 1, 30, tzinfo=UTC).astimezone(BERLIN)
    assert (first.fold, second.fold) == (0, 1)
    assert not repeats_wall_time(daily, first)
    assert repeats_wall_time(daily, second)
    assert not repeats_wall_time(hourly, second)  # every real hour is a slot of a wildcard-hour job
    assert not repeats_wall_time(daily, datetime(2025, 10, 27, 1, 30, tzinfo=UTC).astimezone(BERLIN))


def test_latest_fire_time_looks_back_without_walking_forward() -> None:
    from backupplan.plan.schedule import latest_fire_time

    every_minute = parse_schedule("* * * * *", UTC)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    until = datetime(2030, 6, 1, 12, 34, 56, tzinfo=UTC)
    assert latest_fire_time(every_minute, UTC, start, until) == datetime(2030, 6, 1, 12, 34, tzinfo=UTC)
    yearly = parse_schedule("0 0 1 1 *", UTC)
    assert latest_fire_time(yearly, UTC, start, until) == datetime(2030, 1, 1, tzinfo=UTC)
    assert latest_fire_time(yearly, UTC, start, datetime(2020, 6, 1, tzinfo=UTC)) is None


def test_the_bounded_trigger_skips_a_huge_jump_in_one_step() -> None:
    from backupplan.plan.schedule import _bounded_trigger_class, cached_trigger

    every_minute = parse_schedule("* * * * *", UTC)
    trigger = _bounded_trigger_class()(cached_trigger(every_minute, UTC))
    stale = datetime(2020, 1, 1, tzinfo=UTC)
    now = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert trigger.get_next_fire_time(stale, now) == datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
    recent = datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC)  # within the grace: ordinary stepping
    assert trigger.get_next_fire_time(datetime(2030, 1, 1, tzinfo=UTC), recent) == datetime(
        2030, 1, 1, 0, 1, tzinfo=UTC
    )


@pytest.mark.slow
def test_the_live_scheduler_reports_slots_overlaps_and_missed_fires() -> None:
    import asyncio

    from backupplan.plan.schedule import (
        SchedulerHooks,
        new_scheduler,
        schedule_once,
        schedule_slots,
        scheduled_keys,
    )

    events: list[tuple[str, str]] = []
    slots: list[datetime] = []

    async def main() -> None:
        hooks = SchedulerHooks(
            submitted=lambda key, slot: slots.append(slot),
            missed=lambda key, slot: events.append(("missed", key)),
            overlap=lambda key, times: events.append(("overlap", key)),
            failed=lambda key, error: events.append(("failed", key)),
        )
        scheduler = new_scheduler(UTC, hooks)
        ran: list[str] = []

        async def slow(key: str) -> None:
            ran.append(key)
            await asyncio.sleep(1.3)  # longer than the interval: the next fire overlaps

        anchor = datetime.now(UTC)
        schedule_slots(scheduler, "every", parse_schedule("every 1s", UTC), UTC, slow, anchor=anchor)
        schedule_once(scheduler, "late", datetime.now(UTC) - timedelta(hours=1), slow)
        # yearly, so that no regular slot of it falls inside the test (every minute did, at :59)
        schedule_slots(scheduler, "stale", parse_schedule("0 0 1 1 *", UTC), UTC, slow, anchor=anchor)
        scheduler.start()
        assert scheduled_keys(scheduler) == {"every", "late", "stale"}
        # as after a suspend: the next fire lies minutes in the past, beyond the misfire grace
        scheduler.modify_job("stale", next_run_time=datetime.now(UTC) - timedelta(minutes=5))
        await asyncio.sleep(2.6)
        assert ("missed", "stale") in events and "stale" not in ran
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
        assert "late" in ran  # a one-off wake-up runs however late it comes
        assert ("overlap", "every") in events
        assert ("failed", "every") not in events
        # slots of an interval job lie on the anchor's grid
        grid = [round((slot - anchor).total_seconds(), 3) for slot in slots if slot > anchor]
        assert grid and all(value == int(value) for value in grid)

    asyncio.run(main())
