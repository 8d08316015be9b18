from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backupplan.schedule import ScheduleError, fire_times, parse_schedule, resolve_timezone

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
