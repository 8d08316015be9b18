"""The scheduler's clock, injectable so that tests can move time, and clock-jump detection.

The wall clock can jump: a suspend and resume (Linux's monotonic clock stops while suspended), an
NTP correction, an administrator setting the date. Slots are wall-clock times, so a jump forward
can pass slots without the scheduler's timers noticing. `JumpDetector` compares how far the wall
clock and the monotonic clock moved since the last look; a divergence past `threshold` is a jump,
and the daemon then catches up from the journal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

JUMP_THRESHOLD = 30.0  # seconds of divergence between the wall and the monotonic clock


class Clock(Protocol):
    """Wall-clock time (aware, UTC) and a monotonic counter in seconds."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class JumpDetector:
    """Tells when the wall clock jumped: call `check()` every few seconds."""

    clock: Clock
    threshold: float = JUMP_THRESHOLD
    _wall: datetime = field(init=False)
    _monotonic: float = field(init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Take the current readings as the new reference."""
        self._wall = self.clock.now()
        self._monotonic = self.clock.monotonic()

    def check(self) -> float | None:
        """Return how many seconds the wall clock jumped since the last check (negative: back),
        or None when both clocks moved alike; the readings become the new reference."""
        wall, monotonic = self.clock.now(), self.clock.monotonic()
        divergence = (wall - self._wall).total_seconds() - (monotonic - self._monotonic)
        self._wall, self._monotonic = wall, monotonic
        return divergence if abs(divergence) > self.threshold else None
