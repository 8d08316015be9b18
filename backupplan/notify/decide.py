"""Which notifications a job's new facts call for: pure functions over a small per-job state.

Notifications are about runs, never about attempts: a run that fails twice and succeeds on its third
attempt is one succeeded run. The rules (docs/notifications.md tells users the same):

- `failure`: a run that ends `failed` or `timed_out` when the job's failure streak has not been
  reported yet. Further failed runs of the same streak stay quiet, except for a reminder once a
  day: when `reminder_interval` (23 h, so that a nightly job whose run time wobbles is reminded
  every night) has passed since the streak's last failure message, the next failed run sends it
  again — or the daemon's overdue check, when no run finished for that long either.
- `recovery`: the first `succeeded` or `warning` run after a failure streak, or after an overdue
  message.
- `success`: every `succeeded` or `warning` run (sent only to targets that ask for it).
- `overdue`: once per overdue episode, when the daemon finds the job overdue; not again until a run
  has succeeded. Not while a reported failure streak is open: the failure message and its daily
  reminder already say that backups are not being made.
- `interrupted`: a run that ended `interrupted`, or that a crash interrupted (found at start-up).
- `skipped` runs (the network did not answer, …) send nothing and change nothing: a job that keeps
  skipping becomes overdue, and that is reported.

The state these rules need is `NotifyState`. It survives restarts through the journal: the caller
keeps `to_data()` in the job's `notify` note (a `job.note` record, folded into the job's notes and
kept by compaction) and reads it back with `NotifyState.from_note`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, get_args

from backupplan.plan.model import NotifyEvent

FAILED_STATUSES = frozenset({"failed", "timed_out", "held"})  # held: nothing was backed up
OK_STATUSES = frozenset({"succeeded", "warning"})
REMINDER_INTERVAL = 23 * 3600.0
EVENTS: tuple[str, ...] = get_args(NotifyEvent)


@dataclass(frozen=True)
class NotifyState:
    """What one job's notifications remember between runs (all times UTC).

    `failing_since` is when the first failed run of the open failure streak finished (None: no
    streak); `failed_runs` counts the streak's failed runs; `failure_sent_at` is when its last
    failure message (or reminder) was sent; `overdue_sent_at` is when the open overdue episode was
    reported; `last_finished_at` is when the job's last succeeded, warning or failed run finished.
    """

    failing_since: datetime | None = None
    failed_runs: int = 0
    failure_sent_at: datetime | None = None
    overdue_sent_at: datetime | None = None
    last_finished_at: datetime | None = None

    def to_data(self) -> dict[str, Any]:
        """Given the state, return it as JSON data (for a journal checkpoint)."""
        return {
            "failing_since": _text(self.failing_since),
            "failed_runs": self.failed_runs,
            "failure_sent_at": _text(self.failure_sent_at),
            "overdue_sent_at": _text(self.overdue_sent_at),
            "last_finished_at": _text(self.last_finished_at),
        }

    @classmethod
    def from_note(cls, note: Mapping[str, Any] | None) -> NotifyState:
        """The state kept in a job's `notify` note; a fresh one when it is missing or damaged."""
        try:
            return cls.from_data(note or {})
        except ValueError:
            return cls()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> NotifyState:
        """Given `to_data()` output, return the state; raise ValueError on a malformed timestamp."""
        return cls(
            failing_since=parse_time(data.get("failing_since")),
            failed_runs=int(data.get("failed_runs") or 0),
            failure_sent_at=parse_time(data.get("failure_sent_at")),
            overdue_sent_at=parse_time(data.get("overdue_sent_at")),
            last_finished_at=parse_time(data.get("last_finished_at")),
        )


@dataclass(frozen=True)
class Notice:
    """One notification to send: the event, the job, and the facts its message shows.

    `run` is the RunSummary (docs/status-json.md) of run events; `reminder` marks a repeated
    failure message; `failed_runs`/`failing_since` describe the streak a failure or recovery is
    about; `last_success` is given for overdue notices; `detail` is a sentence for overdue and
    interrupted notices.
    """

    event: NotifyEvent
    job: str
    at: datetime
    run: Mapping[str, Any] | None = None
    reminder: bool = False
    failed_runs: int = 0
    failing_since: datetime | None = None
    last_success: datetime | None = None
    detail: str | None = None

    @property
    def run_id(self) -> str | None:
        value = (self.run or {}).get("run")
        return str(value) if value else None


@dataclass(frozen=True)
class Decision:
    """The notices to send (possibly none) and the job's state after them."""

    notices: tuple[Notice, ...]
    state: NotifyState


def observe_run(state: NotifyState, status: str, finished_at: datetime) -> NotifyState:
    """Given a job's state and a finished run's status and end time, return the updated state.

    A failed run opens or extends the failure streak; a succeeded or warning run closes the streak
    and the overdue episode; other statuses (interrupted, skipped) change nothing.
    """
    if status in FAILED_STATUSES:
        return replace(
            state,
            failing_since=state.failing_since or finished_at,
            failed_runs=state.failed_runs + 1,
            last_finished_at=finished_at,
        )
    if status in OK_STATUSES:
        return NotifyState(last_finished_at=finished_at)
    return state


def mark_sent(state: NotifyState, event: str, at: datetime) -> NotifyState:
    """Given a job's state and a notice that was sent at `at`, return the updated state."""
    if event == "failure" and state.failing_since is not None:
        return replace(state, failure_sent_at=at)
    if event == "overdue":
        return replace(state, overdue_sent_at=at)
    return state


def decide_run(
    state: NotifyState, run: Mapping[str, Any], *, reminder_interval: float = REMINDER_INTERVAL
) -> Decision:
    """Given a job's state and a finished run's RunSummary, return the notices it calls for.

    The summary needs `job`, `status` and `finished_at` (RFC 3339); everything else in it is shown
    in the message when present. Raise ValueError when `finished_at` is not a timestamp.
    """
    job = str(run["job"])
    status = str(run["status"])
    at = parse_time(run.get("finished_at")) or datetime.now(UTC)
    after = observe_run(state, status, at)
    notices: list[Notice] = []
    if status in FAILED_STATUSES:
        reported = state.failing_since is not None and state.failure_sent_at is not None
        if not reported or _elapsed(state.failure_sent_at, at) >= reminder_interval:
            notices.append(
                Notice(
                    "failure",
                    job,
                    at,
                    run=run,
                    reminder=reported,
                    failed_runs=after.failed_runs,
                    failing_since=after.failing_since,
                )
            )
    elif status in OK_STATUSES:
        if state.failing_since is not None or state.overdue_sent_at is not None:
            notices.append(
                Notice(
                    "recovery",
                    job,
                    at,
                    run=run,
                    failed_runs=state.failed_runs,
                    failing_since=state.failing_since,
                )
            )
        notices.append(Notice("success", job, at, run=run))
    elif status == "interrupted":
        notices.append(Notice("interrupted", job, at, run=run, detail=_reason(run)))
    return _decided(after, notices)


def decide_overdue(
    state: NotifyState,
    job: str,
    *,
    now: datetime,
    last_success: datetime | None,
    reminder_interval: float = REMINDER_INTERVAL,
    paused: str | None = None,
) -> Decision:
    """Given a job found overdue (`paused`: "paused since … by …" when it is paused), return the
    overdue notice once per episode.

    While a reported failure streak is open, return nothing, or the streak's daily reminder when
    neither a failure message nor a finished run came for `reminder_interval`: the failing job's
    runs have stopped, so no failed run will send the reminder.
    """
    if state.failing_since is not None and state.failure_sent_at is not None:
        if (
            _elapsed(state.failure_sent_at, now) < reminder_interval
            or _elapsed(state.last_finished_at, now) < reminder_interval
        ):
            return Decision((), state)
        detail = None
        if state.last_finished_at is not None:
            detail = f"the last run finished at {format_time(state.last_finished_at)}"
        reminder = Notice(
            "failure",
            job,
            now,
            reminder=True,
            failed_runs=state.failed_runs,
            failing_since=state.failing_since,
            last_success=last_success,
            detail=detail,
        )
        return _decided(state, [reminder])
    if state.overdue_sent_at is not None:
        return Decision((), state)
    if last_success is None:
        detail = "it has never succeeded"
    else:
        detail = f"no successful run since {format_time(last_success)}"
    if paused is not None:
        detail += f"; the job is {paused}: `backupplan resume {job}` lets it run again"
    notice = Notice("overdue", job, now, last_success=last_success, detail=detail)
    return _decided(state, [notice])


def decide_interrupted(
    state: NotifyState, job: str, *, run_id: str, at: datetime, detail: str | None = None
) -> Decision:
    """Given a run that a crash interrupted (found when the state dir was opened), return its notice."""
    run = {"job": job, "run": run_id, "status": "interrupted", "reason": detail}
    notice = Notice("interrupted", job, at, run=run, detail=detail or "a crash interrupted the run")
    return _decided(state, [notice])


def sent_record(notice: Notice, targets: Iterable[str]) -> dict[str, Any]:
    """Given a notice and the (masked) labels of the targets it went to, return the data of its
    `notify.sent` journal record: `{"event", "at", "run", "reminder", "targets"}`.
    """
    return {
        "event": notice.event,
        "at": format_time(notice.at),
        "run": notice.run_id,
        "reminder": notice.reminder,
        "targets": list(targets),
    }


def parse_time(value: object) -> datetime | None:
    """Given an RFC 3339 text (`…Z`), a datetime or None, return an aware UTC datetime or None;
    raise ValueError for text that is not a timestamp."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """Given a datetime, return it as UTC RFC 3339 with a `Z`, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _elapsed(since: datetime | None, until: datetime) -> float:
    return float("inf") if since is None else (until - since).total_seconds()


def _reason(run: Mapping[str, Any]) -> str | None:
    reason = run.get("reason")
    return str(reason) if reason else None


def _decided(state: NotifyState, notices: list[Notice]) -> Decision:
    for notice in notices:
        state = mark_sent(state, notice.event, notice.at)
    return Decision(tuple(notices), state)
