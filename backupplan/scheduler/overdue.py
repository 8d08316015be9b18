"""Overdue jobs: found by the daemon every minute (and by every `apply`, the OS timers' route),
journaled once per overdue episode, and notified when targets are set.

A job is overdue when its last success (or, never successful, the moment it was first applied) is
older than its schedule allows plus `settings.overdue_grace` (the rule of `status`, see
docs/status-json.md), even if nothing ever started, and even when it is paused: a paused job that
nobody resumes must not go quiet. The deadline of each job is computed once per last success, so
the check costs a comparison per job while nothing changes.

An episode starts with `job.overdue {deadline, paused}` and ends with `job.on_time` (a success, a
new schedule, the job disabled or removed); both are journaled whatever the notification targets,
so that status, the site and metrics show it. The notification rules (once per episode, quiet
while a reported failure streak is open) are backupplan.notify.decide's; their state lives in the
job's notes and survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from backupplan.journal.records import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from backupplan.journal import JobState, Journal, State
    from backupplan.notify.hub import Notifications
    from backupplan.plan.load import LoadedPlan


@dataclass(frozen=True)
class Overdue:
    job: str
    deadline: datetime
    last_success: datetime | None
    paused: str | None = None  # "paused since … by …" for a paused job


@dataclass(frozen=True)
class OverdueReport:
    """What one check found: every overdue job, the episodes it opened and the jobs back on time."""

    overdue: list[Overdue]
    started: list[Overdue]
    ended: list[str]

    @property
    def changed(self) -> list[str]:
        return [item.job for item in self.started] + self.ended


@dataclass
class OverdueWatch:
    """Remembers each job's overdue deadline until its last success (or its schedule) changes."""

    _deadlines: dict[str, tuple[tuple[str, str, float, tzinfo], datetime | None]] = field(
        default_factory=dict
    )

    def overdue(self, loaded: LoadedPlan, state: State, now: datetime) -> list[Overdue]:
        """Given the plan, the journal's state and now, return the jobs that are overdue (enabled,
        scheduled, not running; paused ones included)."""
        from backupplan.status.document import overdue_deadline

        found: list[Overdue] = []
        grace = loaded.plan.settings.overdue_grace
        for job_id, job in loaded.jobs.items():
            job_state = state.jobs.get(job_id)
            if not job.enabled or not job.schedule or job_state is None:
                continue
            if job_state.current is not None:
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
                found.append(Overdue(job_id, deadline, success, _paused(job_state)))
        return found


def _paused(job: JobState) -> str | None:
    if not job.paused:
        return None
    since = f" since {job.paused_since[:16].replace('T', ' ')} UTC" if job.paused_since else ""
    by = f" by {job.paused_by}" if job.paused_by else ""
    return f"paused{since}{by}"


def check_overdue(
    journal: Journal,
    watch: OverdueWatch,
    loaded: LoadedPlan,
    now: datetime,
    notifications: Notifications | None,
) -> OverdueReport:
    """Find the overdue jobs; journal `job.overdue` for each new episode and `job.on_time` for each
    one that ended; send the overdue notices the rules allow. Return what was found."""
    state = journal.state
    found = watch.overdue(loaded, state, now)
    overdue = {item.job for item in found}
    started = [
        item for item in found if state.jobs[item.job].overdue_since != format_timestamp(item.deadline)
    ]
    for item in started:
        data = {"deadline": format_timestamp(item.deadline), "paused": item.paused is not None}
        journal.append("job.overdue", job=item.job, data=data)
    ended = [
        job_id
        for job_id, job in state.jobs.items()
        if job.overdue_since is not None and job_id not in overdue and job.current is None
    ]
    for job_id in ended:
        journal.append("job.on_time", job=job_id, data={"since": state.jobs[job_id].overdue_since})
    if notifications is not None:
        for item in found:
            notify_overdue(journal, notifications, item, now)
    return OverdueReport(found, started, ended)


def notify_overdue(journal: Journal, notifications: Notifications, item: Overdue, now: datetime) -> bool:
    """Report an overdue job (once per episode: the rules decide); journal `notify.sent` and the
    job's new notification state. Return True when a notice was sent."""
    from backupplan.notify.decide import NotifyState

    job_state = journal.state.jobs.get(item.job)
    state = NotifyState.from_note(job_state.notes.get("notify") if job_state is not None else None)
    report = notifications.overdue(
        state, item.job, now=now, last_success=item.last_success, paused=item.paused
    )
    report.journal(journal.append, item.job, None, state)
    return bool(report.sent)
