"""What the runner and the daemon call: decide, render, and queue messages and pings.

One `Notifications` per process. Every method returns at once: delivery happens on the outbox's
threads, so a slow, down or failing receiver never changes a run's status nor delays it. The
methods that decide return a `Report`: the job's new `NotifyState` (keep it) and the notices sent,
which `Report.journal` records as `notify.sent`, and as the job's `notify` note (that is what
makes the state survive a restart). Final delivery failures reach `on_failure` as
`Undelivered` (journal them as `notify.failed`), from a background thread.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from backupplan.notify.decide import (
    OK_STATUSES,
    REMINDER_INTERVAL,
    Decision,
    Notice,
    NotifyState,
    decide_interrupted,
    decide_overdue,
    decide_run,
    sent_record,
)
from backupplan.notify.message import ping_summary, render
from backupplan.notify.outbox import FailureCallback, Outbox
from backupplan.notify.ping import PING_TIMEOUT, PingKind, build_ping, send_ping, tail
from backupplan.notify.send import DELIVERY_TIMEOUT, deliver, plan_targets
from backupplan.plan.model import Plan
from backupplan.secrets import mask

# How long a command that exits (`run`, `apply`) waits for queued notifications: enough for the
# three tries of a slow target, short enough that a dead network never hangs cron.
EXIT_FLUSH_TIMEOUT = 30.0
# Events journaled as notify.sent even when no target wanted them: the history shows every failure
# and overdue episode the rules counted.
_REMEMBERED = frozenset({"failure", "overdue"})


@dataclass(frozen=True)
class Sent:
    """A notice and the (masked) labels of the targets its message was queued for."""

    notice: Notice
    targets: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        """The data of this notice's `notify.sent` journal record."""
        return sent_record(self.notice, self.targets)


@dataclass(frozen=True)
class Report:
    """The job's state after an event and the notices it produced (possibly none)."""

    state: NotifyState
    sent: tuple[Sent, ...] = ()

    def records(self) -> list[dict[str, Any]]:
        """The `notify.sent` record data to journal, in order: one per notice that went to a
        target, and one per failure or overdue notice even without targets (the rules' state
        needs those); a success nobody asked for leaves no record."""
        return [entry.record() for entry in self.sent if entry.targets or entry.notice.event in _REMEMBERED]

    def journal(self, append: Callable[..., object], job: str, run: str | None, before: NotifyState) -> None:
        """Journal, through `append` (a Journal's), what was sent (`notify.sent`) and, when it
        changed from `before`, the job's new state (a `job.note`)."""
        for data in self.records():
            append("notify.sent", job=job, run=run, data=data)
        if self.state != before:
            append("job.note", job=job, data={"notify": self.state.to_data()})


class Notifications:
    """Notifications and pings for one plan, delivered in the background."""

    def __init__(
        self,
        plan: Plan,
        *,
        on_failure: FailureCallback | None = None,
        host: str | None = None,
        outbox: Outbox | None = None,
        reminder_interval: float = REMINDER_INTERVAL,
        delivery_timeout: float = DELIVERY_TIMEOUT,
        ping_timeout: float = PING_TIMEOUT,
    ) -> None:
        self.plan = plan
        self.host = host or socket.gethostname()
        self.outbox = outbox or Outbox(on_failure)
        self.reminder_interval = reminder_interval
        self.delivery_timeout = delivery_timeout
        self.ping_timeout = ping_timeout

    def run_started(self, job: str, run_id: str) -> None:
        """A run began its transfer: ping the job's `/start` (healthchecks, Cronitor)."""
        self._ping(job, "start", run_id, body=f"backupplan run {run_id} started on {self.host}")

    def run_finished(self, state: NotifyState, run: Mapping[str, Any], *, log_tail: str = "") -> Report:
        """A run ended (RunSummary `run`; `log_tail`: the end of its log): queue the notices it
        calls for and the success or fail ping; return the job's new state and what was sent."""
        job = str(run["job"])
        report = self._dispatch(decide_run(state, run, reminder_interval=self.reminder_interval))
        status = str(run.get("status"))
        kind: PingKind | None = None
        if status in OK_STATUSES:
            kind = "success"
        elif status in ("failed", "timed_out", "interrupted"):
            kind = "fail"
        if kind is not None:
            run_id = str(run.get("run") or "")
            self._ping(job, kind, run_id, body=tail(log_tail), summary=ping_summary(run))
        return report

    def overdue(
        self,
        state: NotifyState,
        job: str,
        *,
        now: datetime,
        last_success: datetime | None,
        paused: str | None = None,
    ) -> Report:
        """`job` was found overdue (`paused`: "paused since … by …" when it is paused): queue the
        overdue notice once per episode."""
        decision = decide_overdue(
            state,
            job,
            now=now,
            last_success=last_success,
            reminder_interval=self.reminder_interval,
            paused=paused,
        )
        return self._dispatch(decision)

    def interrupted(
        self, state: NotifyState, job: str, *, run_id: str, at: datetime, detail: str | None = None
    ) -> Report:
        """A crash interrupted run `run_id` (found at start-up): queue its notice and a fail ping."""
        report = self._dispatch(decide_interrupted(state, job, run_id=run_id, at=at, detail=detail))
        reason = detail or "a crash interrupted the run"
        self._ping(job, "fail", run_id, body=f"backupplan run {run_id}: {reason}", summary=reason)
        return report

    def flush(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for queued deliveries; True when none is left."""
        return self.outbox.flush(timeout)

    def close(self, timeout: float) -> bool:
        """Deliver what is queued for at most `timeout` seconds, then report the rest undelivered."""
        return self.outbox.close(timeout)

    def _dispatch(self, decision: Decision) -> Report:
        sent: list[Sent] = []
        for notice in decision.notices:
            targets = [target for target in plan_targets(self.plan, notice.job) if target.wants(notice.event)]
            if not targets:
                sent.append(Sent(notice, ()))
                continue
            message = render(notice, host=self.host, site_url=self.plan.settings.site_url)
            for target in targets:
                send = partial(deliver, target.url, message, timeout=self.delivery_timeout)
                self.outbox.submit(
                    f"notify {target.url}",
                    target.label,
                    notice.event,
                    send,
                    job=notice.job,
                    run=notice.run_id,
                )
            sent.append(Sent(notice, tuple(target.label for target in targets)))
        return Report(decision.state, tuple(sent))

    def heartbeat(self, summary: str, *, problem: str | None = None) -> None:
        """Ping `settings.heartbeat` (if set): success with `summary`, or fail with `problem`
        (e.g. a full state dir: the scheduler lives, but nothing can be recorded)."""
        heartbeat = self.plan.settings.heartbeat
        if heartbeat is None:
            return
        kind: PingKind = "fail" if problem else "success"
        text = mask(problem or summary)
        request = build_ping(heartbeat.url, kind, body=text, summary=text)
        if request is None:
            return
        send = partial(send_ping, request, timeout=self.ping_timeout)
        self.outbox.submit(f"ping {heartbeat.url}", mask(heartbeat.url), f"heartbeat {kind}", send)

    def _ping(self, job: str, kind: PingKind, run_id: str, *, body: str = "", summary: str = "") -> None:
        entry = self.plan.jobs.get(job)
        if entry is None or not entry.ping:
            return
        request = build_ping(entry.ping, kind, body=body, summary=mask(summary))
        if request is None:
            return
        send = partial(send_ping, request, timeout=self.ping_timeout)
        self.outbox.submit(
            f"ping {entry.ping}", mask(entry.ping), f"ping {kind}", send, job=job, run=run_id or None
        )
