"""What every rule of the judge shares: the Finding it produces, the Rules it judges by (the
reader's clock and the thresholds), and reading the document's timestamps defensively."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from backupplan.monitor.thresholds import Thresholds
from backupplan.monitor.verdict import State

GROUP_MACHINE = 0  # stale, state dir, journal, plan: they explain everything below them
GROUP_OUTCOME = 1  # a job's last run failed, was held, warned or was interrupted
GROUP_LATE = 2  # a job that is only late


@dataclass(frozen=True)
class Finding:
    """One problem: its state, its one-line text, and where it sorts among equals (the machine
    first, then jobs' outcomes, then late jobs, the latest first)."""

    state: State
    text: str
    group: int = GROUP_MACHINE
    lateness: float = 0.0

    def key(self) -> tuple[int, int, float, str]:
        return (-self.state, self.group, -self.lateness, self.text)


@dataclass(frozen=True)
class Rules:
    """What the rules judge by: the thresholds and the reader's clock (aware, UTC)."""

    thresholds: Thresholds
    now: datetime


def moment(value: object) -> datetime | None:
    """Given a document's timestamp (`2026-11-28T02:00:03Z`), return it as an aware UTC datetime;
    None when it is missing or not a timestamp (a naive one is taken as UTC)."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def when(moment: datetime, now: datetime) -> str:
    """Given a moment, return `03:00 UTC` when it is on now's day (UTC), else `2026-11-27 03:00 UTC`."""
    utc = moment.astimezone(UTC)
    if utc.date() == now.astimezone(UTC).date():
        return utc.strftime("%H:%M UTC")
    return utc.strftime("%Y-%m-%d %H:%M UTC")
