"""Which snapshots a `keep:` policy retains: the usual bucket semantics (borg, restic, rsnapshot).

- `last: N` keeps the N newest snapshots.
- `hourly/daily/weekly/monthly/yearly: N` walk the snapshots from newest to oldest and keep the
  newest snapshot of each hour/day/ISO week/month/year that has one, until N such periods are kept.
  Periods without a snapshot do not count; buckets are computed in the plan's timezone.
- The newest snapshot is always kept, whatever the policy says.
- A snapshot kept by several rules is kept once; every rule that keeps it is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo

from backupplan.plan.model import Keep

PERIODS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "hourly": lambda moment: (moment.year, moment.month, moment.day, moment.hour),
    "daily": lambda moment: (moment.year, moment.month, moment.day),
    "weekly": lambda moment: tuple(moment.isocalendar()[:2]),
    "monthly": lambda moment: (moment.year, moment.month),
    "yearly": lambda moment: (moment.year,),
}


def retained(snapshots: Iterable[datetime], keep: Keep, timezone: tzinfo) -> dict[datetime, list[str]]:
    """Given snapshot times (aware), return the ones to keep, each with the rules that keep it
    (e.g. `["daily 1", "last 1"]`). Everything not returned may be pruned."""
    ordered = sorted(set(snapshots), reverse=True)
    reasons: dict[datetime, list[str]] = {}
    if not ordered:
        return reasons
    for index, moment in enumerate(ordered[: keep.last]):
        reasons.setdefault(moment, []).append(f"last {index + 1}")
    for name, period_of in PERIODS.items():
        wanted = getattr(keep, name)
        seen: set[tuple[int, ...]] = set()
        for moment in ordered:
            if len(seen) >= wanted:
                break
            period = period_of(moment.astimezone(timezone))
            if period not in seen:
                seen.add(period)
                reasons.setdefault(moment, []).append(f"{name} {len(seen)}")
    reasons.setdefault(ordered[0], []).append("newest")
    return reasons
