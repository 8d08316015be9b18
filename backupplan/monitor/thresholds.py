"""The thresholds a check judges by, parsed from the flags as people write them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from backupplan.units import format_size, parse_duration, parse_size

DEFAULT_LATE_CRITICAL = 86400.0  # overdue by more than a day: CRITICAL (`--late-critical 1d`)

T = TypeVar("T")
_PERCENT = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True)
class Space:
    """Free space below which a state dir is a problem: a share of its file system's size
    (`percent`) or a number of bytes; 0 of either turns the threshold off."""

    percent: float | None = None
    size: int | None = None

    def bytes_of(self, total: int | None) -> int | None:
        """Given the file system's size (None when unknown), return the threshold in bytes."""
        if self.size is not None:
            return self.size
        if self.percent is None or total is None:
            return None
        return int(total * self.percent / 100)

    def __str__(self) -> str:
        if self.percent is not None:
            return f"{_number(self.percent)}%"
        return format_size(self.size or 0)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


@dataclass(frozen=True)
class Thresholds:
    """When a check turns WARNING or CRITICAL, beyond the rules that need no threshold."""

    late_critical: float = DEFAULT_LATE_CRITICAL  # seconds overdue before WARNING becomes CRITICAL
    space_warning: Space = Space(percent=10)  # `--space-warning 10%`
    space_critical: Space = Space(percent=5)  # `--space-critical 5%`
    max_age: float | None = None  # seconds; None: only `freshness.expected_by` says when it is stale


def parse_space(text: str) -> Space:
    """Given `10%`, `2GiB` or `0`, return the Space; raise ValueError with a human message."""
    match = _PERCENT.match(text)
    if match is not None:
        percent = float(match["number"])
        if percent > 100:
            raise ValueError(f"{text!r} is more than 100%")
        return Space(percent=percent)
    try:
        return Space(size=parse_size(text))
    except ValueError as error:
        raise ValueError(f"{error}; write a share like 10% or a size like 2GiB") from None


def parse_seconds(text: str, *, positive: bool = False) -> float:
    """Given `1d`, `90m`, `10s` …, return seconds; raise ValueError with a human message."""
    seconds = parse_duration(text)
    if positive and seconds <= 0:
        raise ValueError(f"{text!r} must be more than 0")
    return seconds


def _parsed(flag: str, parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from None


def parse_thresholds(
    *, late_critical: str, space_warning: str, space_critical: str, max_age: str | None
) -> Thresholds:
    """Given the flags' texts, return the Thresholds; raise ValueError naming the flag."""
    return Thresholds(
        late_critical=_parsed("--late-critical", parse_seconds, late_critical),
        space_warning=_parsed("--space-warning", parse_space, space_warning),
        space_critical=_parsed("--space-critical", parse_space, space_critical),
        max_age=None
        if max_age is None
        else _parsed("--max-age", lambda text: parse_seconds(text, positive=True), max_age),
    )


def parse_timeout(text: str) -> float:
    """Given `--timeout`'s text, return seconds (more than 0); raise ValueError naming the flag."""
    return _parsed("--timeout", lambda value: parse_seconds(value, positive=True), text)
