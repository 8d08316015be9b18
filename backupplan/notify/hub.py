"""What the runner and the daemon call: decide, render, and queue messages and pings.

One `Notifications` per process. Every method returns at once: delivery happens on the outbox's
threads, so a slow, down or failing receiver never changes a run's status nor delays it. The
methods that decide return a `Report`: the job's new `NotifyState` (keep it) and the notices sent,
which `Report.journal` records as `notify.sent`, and as the job's `notify` note (that is what
makes the state survive a restart). Final delivery failures reach `on_failure` as
`Undelivered` (journal them as `notify.failed`), from a background thread.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
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
from backupplan.notify.message import Message, ping_summary, render
from backupplan.notify.outbox import FailureCallback, Outbox, Undelivered
from backupplan.notify.ping import PING_TIMEOUT, PingKind, build_ping, send_ping, tail
from backupplan.notify.send import DELIVERY_TIMEOUT, deliver, plan_targets
from backupplan.notify.spool import Claim, Spool, expired, new_message_id, url_digest
from backupplan.plan.model import Plan
from backupplan.secrets import mask

# How long a command that exits (`run`, `apply`) waits for queued notifications: enough for the
# three tries of a slow target, short enough that a dead network never hangs cron.
EXIT_FLUSH_TIMEOUT = 30.0
# Events journaled as notify.sent even when no target wanted them: the history shows every failure
# and overdue episode the rules counted.
_REMEMBERED = frozenset({"failure", "overdue"})

logger = logging.getLogger("backupplan.notify")


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
        spool: Spool | None = None,
    ) -> None:
        self.plan = plan
        self.host = host or socket.gethostname()
        self.outbox = outbox or Outbox(on_failure)
        self.on_failure = on_failure
        self.spool = spool
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
        elif status in ("failed", "timed_out", "held", "interrupted"):
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
                self._send(target.url, target.label, notice.event, message, notice.job, notice.run_id)
            sent.append(Sent(notice, tuple(target.label for target in targets)))
        return Report(decision.state, tuple(sent))

    def _send(
        self,
        url: str,
        label: str,
        event: str,
        message: Message,
        job: str | None,
        run: str | None,
        *,
        message_id: str | None = None,
        claim: Claim | None = None,
    ) -> None:
        """Queue one message to one target: spooled first (durable) when there is a spool."""
        if claim is None and self.spool is not None:
            message_id = new_message_id(datetime.now(UTC))
            message = replace(message, body=f"{message.body}\n\nbackupplan message {message_id}")
            entry = {
                "id": message_id,
                "queued_at": datetime.now(UTC).isoformat(),
                "url_sha256": url_digest(url),
                "target": label,
                "event": event,
                "job": job,
                "run": run,
                "message": {"title": message.title, "body": message.body, "kind": message.kind},
            }
            try:
                claim = self.spool.add(entry)
            except OSError as error:  # a full state dir: sent from memory only, and said so
                logger.warning("%s to %s is not spooled (%s): a crash now would lose it", event, label, error)
        settled = None if claim is None else partial(self._settled, claim)
        send = partial(deliver, url, message, timeout=self.delivery_timeout)
        self.outbox.submit(f"notify {url}", label, event, send, job=job, run=run, on_settled=settled)

    def _settled(self, claim: Claim, done: bool) -> None:
        assert self.spool is not None
        self.spool.release(claim, done=done)

    def replay(self, now: datetime | None = None) -> int:
        """Send the spooled messages no live process holds (their sender died or exited first);
        give up those older than a week, and those whose target left the plan (both reported).
        Return how many were queued again."""
        if self.spool is None:
            return 0
        now = now or datetime.now(UTC)
        urls = {url_digest(target.url): target.url for target in plan_targets(self.plan, None)}
        queued = 0
        try:
            claims = list(self.spool.orphans())
        except OSError as error:
            logger.warning("the notification outbox cannot be read: %s", error)
            return 0
        for claim in claims:
            entry = claim.entry
            url = urls.get(str(entry.get("url_sha256")))
            problem = None
            if expired(entry, now):
                problem = "not sent within a week; given up"
            elif url is None:
                problem = "its target is no longer in the plan; not sent"
            if problem is not None:
                self.spool.release(claim, done=True)
                if self.on_failure is not None:
                    self.on_failure(Undelivered(
                        str(entry.get("target")), str(entry.get("event")), problem,
                        entry.get("job"), entry.get("run"),
                    ))  # fmt: skip
                continue
            stored = entry.get("message") or {}
            message = Message(str(stored.get("title")), str(stored.get("body")), stored.get("kind") or "info")
            label, event = str(entry.get("target")), str(entry.get("event"))
            assert url is not None
            self._send(url, label, event, message, entry.get("job"), entry.get("run"), claim=claim)
            queued += 1
        return queued

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
