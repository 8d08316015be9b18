"""Overdue jobs: found by the daemon every minute, reported once per overdue episode.

A job is overdue when its last success (or, never successful, the moment it was first applied) is
older than its schedule allows plus `settings.overdue_grace` (the rule of `status`, see
docs/status-json.md), even if nothing ever started. The deadline of each job is computed once per
last success, so the check costs a comparison per job while nothing changes. The notification
rules (once per episode, quiet while a reported failure streak is open) are
backupplan.notify.decide's; their state lives in the job's notes and survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from backupplan.journal.records import parse_timestamp

if TYPE_CHECKING:
    from backupplan.journal import Journal, State
    from backupplan.notify.hub import Notifications
    from backupplan.plan.load import LoadedPlan


@dataclass(frozen=True)
class Overdue:
    job: str
    deadline: datetime
    last_success: datetime | None


@dataclass
class OverdueWatch:
    """Remembers each job's overdue deadline until its last success (or its schedule) changes."""

    _deadlines: dict[str, tuple[tuple[str, str, float, tzinfo], datetime | None]] = field(
        default_factory=dict
    )

    def overdue(self, loaded: LoadedPlan, state: State, now: datetime) -> list[Overdue]:
        """Given the plan, the journal's state and now, return the jobs that are overdue (enabled,
        scheduled, not paused, not running)."""
        from backupplan.status.document import overdue_deadline

        found: list[Overdue] = []
        grace = loaded.plan.settings.overdue_grace
        for job_id, job in loaded.jobs.items():
            job_state = state.jobs.get(job_id)
            if not job.enabled or not job.schedule or job_state is None:
                continue
            if job_state.paused or job_state.current is not None:
                continue
            reference = job_state.last_success or job_state.first_applied or ""
            key = (job.schedule, reference, grace, loaded.timezone)  # a reload may change the timezone
            cached = self._deadlines.get(job_id)
            if cached is None or cached[0] != key:
                cached = (key, overdue_deadline(job_state, job, loaded))
                self._deadlines[job_id] = cached
            deadline = cached[1]
            if deadline is not None and now > deadline:
                success = parse_timestamp(job_state.last_success) if job_state.last_success else None
                found.append(Overdue(job_id, deadline, success))
        return found


def notify_overdue(journal: Journal, notifications: Notifications, item: Overdue, now: datetime) -> bool:
    """Report an overdue job (once per episode: the rules decide); journal `notify.sent` and the
    job's new notification state. Return True when a notice was sent."""
    from backupplan.notify.decide import NotifyState

    job_state = journal.state.jobs.get(item.job)
    state = NotifyState.from_note(job_state.notes.get("notify") if job_state is not None else None)
    report = notifications.overdue(state, item.job, now=now, last_success=item.last_success)
    report.journal(journal.append, item.job, None, state)
    return bool(report.sent)
