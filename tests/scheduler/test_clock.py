"""Clock-jump detection: the wall clock moving differently from the monotonic one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backupplan.scheduler.clock import JUMP_THRESHOLD, JumpDetector, SystemClock


class FakeClock:
    def __init__(self) -> None:
        self.wall = datetime(2026, 3, 1, 10, tzinfo=UTC)
        self.steady = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.steady

    def tick(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.steady += seconds


def test_time_passing_normally_is_no_jump() -> None:
    clock = FakeClock()
    detector = JumpDetector(clock)
    for _ in range(5):
        clock.tick(1.0)
        assert detector.check() is None


def test_a_suspend_is_a_forward_jump_and_a_reset_clock_a_backward_one() -> None:
    clock = FakeClock()
    detector = JumpDetector(clock)
    clock.tick(1.0)
    clock.wall += timedelta(hours=3)  # suspended: the monotonic clock stood still
    assert detector.check() == 3 * 3600.0
    assert detector.check() is None  # the new readings are the reference
    clock.tick(2.0)
    clock.wall -= timedelta(hours=1)
    assert detector.check() == -3600.0


def test_small_corrections_are_ignored() -> None:
    clock = FakeClock()
    detector = JumpDetector(clock)
    clock.wall += timedelta(seconds=JUMP_THRESHOLD - 1)
    assert detector.check() is None


def test_the_system_clock() -> None:
    clock = SystemClock()
    assert clock.now().tzinfo is UTC and clock.monotonic() > 0
    assert JumpDetector(clock).check() is None
