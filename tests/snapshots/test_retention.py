"""Retention over simulated histories, table-driven with hand-computed expectations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backupplan.plan.model import Keep
from backupplan.snapshots.retention import retained

START = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)  # a Wednesday
YEAR = [START + timedelta(days=day) for day in range(365)]  # daily runs, last one 2025-12-31


def kept_days(keep: Keep, times: list[datetime] = YEAR) -> list[str]:
    return sorted(moment.strftime("%Y-%m-%d") for moment in retained(times, keep, UTC))


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        (Keep(last=3), ["2025-12-29", "2025-12-30", "2025-12-31"]),
        (Keep(daily=2), ["2025-12-30", "2025-12-31"]),
        # ISO weeks: 2025-12-29 (Mon) .. 12-31 are week 1 of 2026; the newest of each earlier week is Sunday
        (Keep(weekly=3), ["2025-12-21", "2025-12-28", "2025-12-31"]),
        (Keep(monthly=3), ["2025-10-31", "2025-11-30", "2025-12-31"]),
        (Keep(yearly=5), ["2025-12-31"]),  # only one year has snapshots: periods without one do not count
        (Keep(), ["2025-12-31"]),  # the newest is always kept
        (
            Keep(daily=7, weekly=4, monthly=12),
            # 7 dailies (12-25..12-31), 4 weeklies (12-31, 12-28, 12-21, 12-14), 12 monthlies (month ends)
            sorted(
                {f"2025-12-{day}" for day in range(25, 32)}
                | {"2025-12-28", "2025-12-21", "2025-12-14"}
                | {
                    "2025-01-31",
                    "2025-02-28",
                    "2025-03-31",
                    "2025-04-30",
                    "2025-05-31",
                    "2025-06-30",
                    "2025-07-31",
                    "2025-08-31",
                    "2025-09-30",
                    "2025-10-31",
                    "2025-11-30",
                }
            ),
        ),
    ],
    ids=["last", "daily", "weekly", "monthly", "yearly-sparse", "nothing", "typical"],
)
def test_year_of_daily_runs(keep: Keep, expected: list[str]) -> None:
    assert kept_days(keep) == expected


def test_reasons_are_reported() -> None:
    reasons = retained(YEAR, Keep(last=1, daily=1, monthly=2), UTC)
    assert reasons[YEAR[-1]] == ["last 1", "daily 1", "monthly 1", "newest"]
    assert reasons[datetime(2025, 11, 30, 2, 0, tzinfo=UTC)] == ["monthly 2"]


def test_several_runs_a_day_keep_the_newest_of_each_day() -> None:
    times = [START + timedelta(hours=6 * step) for step in range(12)]  # 3 days, 4 runs a day
    kept = sorted(retained(times, Keep(daily=3), UTC))
    assert [moment.strftime("%d %H") for moment in kept] == ["01 20", "02 20", "03 20"]


def test_buckets_follow_the_plan_timezone() -> None:
    # 23:30 UTC is already the next day in Berlin
    times = [datetime(2025, 6, 1, 12, 0, tzinfo=UTC), datetime(2025, 6, 1, 23, 30, tzinfo=UTC)]
    assert len(retained(times, Keep(daily=2), UTC)) == 1
    assert len(retained(times, Keep(daily=2), ZoneInfo("Europe/Berlin"))) == 2


def test_empty() -> None:
    assert retained([], Keep(daily=3), UTC) == {}
