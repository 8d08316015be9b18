"""Slots between two times: cron and intervals, the on-time split, bounded counting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from backupplan.plan.schedule import parse_schedule
from backupplan.scheduler.slots import COUNT_LIMIT, NO_SLOTS, ON_TIME, Slots, due_slots, slots_between
from tests.scheduler.conftest import utc

DAILY = parse_schedule("0 2 * * *", UTC)
SIX_HOURS = parse_schedule("every 6h", UTC)


def test_cron_slots_are_utc_and_exclusive_of_the_start() -> None:
    found = slots_between(DAILY, UTC, utc(2026, 3, 1, 2), utc(2026, 3, 3, 2))
    assert found == Slots(
        (utc(2026, 3, 2, 2), utc(2026, 3, 3, 2)), 2, False, utc(2026, 3, 3, 2), upcoming=utc(2026, 3, 4, 2)
    )
    assert all(moment.tzinfo is UTC for moment in found.times)
    assert slots_between(DAILY, UTC, utc(2026, 3, 3), utc(2026, 3, 1)) is NO_SLOTS


def test_interval_slots_count_from_the_anchor() -> None:
    anchor = utc(2026, 3, 1, 10, 0, 7)
    found = slots_between(SIX_HOURS, UTC, anchor, utc(2026, 3, 2, 9))
    assert found.times == (utc(2026, 3, 1, 16, 0, 7), utc(2026, 3, 1, 22, 0, 7), utc(2026, 3, 2, 4, 0, 7))
    assert found.upcoming == utc(2026, 3, 2, 10, 0, 7)
    # A minute early still reaches the next slot (cron starting apply before anchor + 6h).
    assert slots_between(SIX_HOURS, UTC, anchor, utc(2026, 3, 1, 15, 59, 30)).count == 1
    assert slots_between(SIX_HOURS, UTC, anchor, utc(2026, 3, 1, 15, 58)).count == 0


def test_due_slots_splits_the_recent_one_off() -> None:
    on_time, missed = due_slots(DAILY, UTC, utc(2026, 3, 1, 2), utc(2026, 3, 4, 2, 1))
    assert on_time == utc(2026, 3, 4, 2)
    assert missed == Slots((utc(2026, 3, 2, 2), utc(2026, 3, 3, 2)), 2, False, utc(2026, 3, 3, 2))
    late = utc(2026, 3, 4, 2) + timedelta(seconds=ON_TIME + 1)
    assert due_slots(DAILY, UTC, utc(2026, 3, 1, 2), late) == (
        None,
        slots_between(DAILY, UTC, utc(2026, 3, 1, 2), late),
    )


def test_counting_stops_at_the_limit_but_the_last_slot_is_exact() -> None:
    every_minute = parse_schedule("* * * * *", UTC)
    found = slots_between(every_minute, UTC, utc(2026, 1, 1), utc(2027, 1, 1, 0, 0, 30))
    assert (found.count, found.more, len(found.times), found.last) == (
        COUNT_LIMIT,
        True,
        COUNT_LIMIT,
        utc(2027, 1, 1),
    )
    on_time, missed = due_slots(every_minute, UTC, utc(2026, 1, 1), utc(2027, 1, 1, 0, 0, 30))
    assert on_time == utc(2027, 1, 1) and missed.more and missed.last == utc(2026, 12, 31, 23, 59)


def test_describe() -> None:
    assert Slots((utc(2026, 1, 1),), 1, False, utc(2026, 1, 1)).describe() == "1 slot"
    assert Slots((), 1000, True, None).describe() == "at least 1000 slots"
    assert datetime(2026, 1, 1, tzinfo=UTC) == utc(2026, 1, 1)


def test_with_no_slot_since_the_anchor_the_next_one_is_known() -> None:
    on_time, missed = due_slots(DAILY, UTC, utc(2026, 3, 1, 2), utc(2026, 3, 1, 12))
    assert (on_time, bool(missed), missed.upcoming) == (None, False, utc(2026, 3, 2, 2))
    berlin = ZoneInfo("Europe/Berlin")
    fixed = parse_schedule("30 2 * * *", berlin)
    # just after the first 02:30 of a fall-back day, the repeated 02:30 is not the next slot
    _, after_fall_back = due_slots(fixed, berlin, utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1))
    assert after_fall_back.upcoming is None  # unknown here; the caller asks for it again
