"""Reconciling: compare the plan with the applied one, assess every job, then journal the verdict.

`reconcile` only reads (it is what `plan` and `apply --dry-run` show); `commit` writes: the plan
as applied (`plan.applied`, `job.removed`, applied.json), what was done about runs a crash
interrupted (`recovery.handled`, `job.paused`), every slot that passed without a run
(`slot.missed`, `run.skipped`), and returns the runs to start. `apply` and the daemon both go
through here, so they act alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backupplan.journal.records import format_timestamp, parse_timestamp, rfc3339
from backupplan.plan.diff import PlanDiff, diff_plans
from backupplan.scheduler.applied import Applied, write_applied
from backupplan.scheduler.due import Assessment, Recovery, assess, never_busy
from backupplan.scheduler.slots import Slots

if TYPE_CHECKING:
    from backupplan.journal import Journal, State
    from backupplan.notify.hub import Notifications
    from backupplan.plan.load import LoadedPlan
    from backupplan.runner.results import Trigger

MISSED_LISTED = 24  # missed slots journaled one by one; more are journaled as one summary
RECENT_MISSED = 20  # missed slots each job keeps in its notes for status and the site


@dataclass(frozen=True)
class Launch:
    """A run to start: the job, its trigger, the slot it is for, and why."""

    job: str
    trigger: Trigger
    slot: datetime | None
    reason: str


@dataclass(frozen=True)
class Reconciliation:
    """What applying the plan now means: the diff, every job's assessment, stray interruptions."""

    loaded: LoadedPlan
    applied: Applied | None
    diff: PlanDiff
    assessments: list[Assessment]
    strays: list[Recovery]
    now: datetime
    journal_digest: str | None = None  # of the journal's last `plan.applied`

    @property
    def record(self) -> bool:
        """True when the plan must be recorded as applied: never applied, changed, or the journal
        does not know it (a journal started afresh next to an old applied.json)."""
        digest = self.loaded.digest
        return self.applied is None or self.applied.digest != digest or self.journal_digest != digest

    @property
    def due(self) -> list[Assessment]:
        return [assessment for assessment in self.assessments if assessment.run]

    @property
    def idle(self) -> bool:
        """Nothing to record, run or journal."""
        return not self.record and not self.strays and not any(writes(item) for item in self.assessments)


def writes(assessment: Assessment) -> bool:
    """True when committing the assessment journals something."""
    return bool(
        assessment.run
        or assessment.recovery is not None
        or (assessment.missed and assessment.missed_action)
        or (assessment.skipped and (assessment.slot is not None or assessment.missed))
    )


def reconcile(
    loaded: LoadedPlan,
    state: State,
    applied: Applied | None,
    now: datetime,
    *,
    busy: Callable[[str], str | None] = never_busy,
    first_trigger: Trigger = "apply",
    only: set[str] | None = None,
) -> Reconciliation:
    """Given the plan, the journal's state, the applied plan and now, return what applying means;
    read nothing else and write nothing."""
    unchanged = applied is not None and applied.digest == loaded.digest
    if unchanged:
        diff = PlanDiff()  # the same digest is the same plan: spare normalizing 1,000 jobs
    else:
        diff = diff_plans(applied.plan if applied is not None else None, loaded.normalized())
    assessments = assess(
        loaded,
        state,
        applied.plan if applied is not None and not unchanged else None,  # for changed locations
        now,
        busy=busy,
        first_trigger=first_trigger,
        only=only,
    )
    strays = [
        Recovery(item.job, item.run, "dismissed", "the job is no longer in the plan", item.process)
        for item in state.interruptions
        if item.handled == "pending" and item.job not in loaded.jobs
    ]
    journal_digest = state.plan.digest if state.plan is not None else None
    return Reconciliation(loaded, applied, diff, assessments, strays, now, journal_digest)


def commit(
    journal: Journal,
    reconciliation: Reconciliation,
    *,
    notifications: Notifications | None = None,
    record_plan: bool = True,
) -> list[Launch]:
    """Journal what `reconciliation` decided (and write applied.json); return the runs to start,
    in plan order. Raise StateError when the journal or applied.json cannot be written."""
    loaded = reconciliation.loaded
    if record_plan and reconciliation.record:
        diff = reconciliation.diff
        journal.append(
            "plan.applied",
            data={
                "digest": loaded.digest,
                "path": str(loaded.path),
                "jobs": list(loaded.jobs),
                "added": list(diff.added),
                "changed": list(diff.changed),
                "removed": list(diff.removed),
            },
        )
        for job_id in diff.removed:
            journal.append("job.removed", job=job_id)
        write_applied(loaded, reconciliation.now)
    for stray in reconciliation.strays:
        handle_recovery(journal, stray, notifications=None, stop_grace=loaded.plan.settings.stop_grace)
    launches: list[Launch] = []
    for assessment in reconciliation.assessments:
        if assessment.recovery is not None:
            handle_recovery(
                journal,
                assessment.recovery,
                notifications=notifications,
                stop_grace=loaded.plan.settings.stop_grace,
                now=reconciliation.now,
            )
        if assessment.missed and assessment.missed_action:
            journal_missed(
                journal, assessment.job, assessment.missed, assessment.missed_action, reconciliation.now
            )
        if assessment.run:
            assert assessment.trigger is not None
            launches.append(Launch(assessment.job, assessment.trigger, assessment.slot, assessment.reason))
        elif assessment.skipped:
            journal_skipped(journal, assessment.job, assessment.skipped, assessment.missed, assessment.slot)
    return launches


def handle_recovery(
    journal: Journal,
    recovery: Recovery,
    *,
    notifications: Notifications | None,
    stop_grace: float,
    now: datetime | None = None,
) -> None:
    """Journal what is done about a run a crash interrupted; before it is resumed, stop an engine
    process of that run that survived the crash (never two copies into one destination)."""
    if recovery.action == "resumed" and recovery.process:
        from backupplan.process.procfs import ChildIdentity, stop_survivor

        with contextlib.suppress(Exception):  # a record without a usable identity: nothing to stop
            identity = ChildIdentity.from_record(recovery.process)
            if stop_survivor(identity, grace=stop_grace):
                journal.append(
                    "run.note",
                    job=recovery.job,
                    run=recovery.run,
                    data={"message": f"stopped a surviving engine process {identity.pid}"},
                )
    journal.append(
        "recovery.handled",
        job=recovery.job,
        run=recovery.run,
        data={
            "job": recovery.job,
            "run": recovery.run,
            "action": recovery.action,
            "message": recovery.message,
        },
    )
    if recovery.action == "paused":
        state = journal.state.jobs.get(recovery.job)
        if state is None or not state.paused:
            journal.append("job.paused", job=recovery.job, data={"by": "recovery"})
    if recovery.action != "dismissed" and notifications is not None:
        notify_interrupted(journal, notifications, recovery, now or datetime.now(UTC))


def notify_interrupted(
    journal: Journal, notifications: Notifications, recovery: Recovery, now: datetime
) -> None:
    """Send the `interrupted` notification of a run a crash interrupted (found at start)."""
    from backupplan.notify.decide import NotifyState

    job_state = journal.state.jobs.get(recovery.job)
    state = NotifyState.from_note(job_state.notes.get("notify") if job_state is not None else None)
    report = notifications.interrupted(
        state,
        recovery.job,
        run_id=recovery.run,
        at=now,
        detail=f"backupplan stopped before the run ended (crash or power cut); {recovery.message}",
    )
    report.journal(journal.append, recovery.job, recovery.run, state)


def journal_missed(journal: Journal, job: str, missed: Slots, action: str, now: datetime) -> None:
    """Journal slots that passed while nothing ran them: `slot.missed` each (with `run.skipped`
    too when they are skipped), or one summary of each when there are more than MISSED_LISTED;
    then the job's recent missed slots (`job.note {"missed": […]}`, what status and the site show)."""
    skip = action == "skip"
    recent: list[dict[str, Any]] = []
    detected = rfc3339(format_timestamp(now))
    for data in _slot_records(missed):
        journal.append("slot.missed", job=job, data={**data, "action": action})
        if skip:
            journal.append(
                "run.skipped",
                job=job,
                data={**data, "reason": "missed", "message": _skip_message("missed", data)},
            )
        shown = {
            "slot": rfc3339(data.get("last_slot") or data["slot"]),
            "detected_at": detected,
            "action": action,
        }
        if "count" in data:
            shown.update(first_slot=rfc3339(data["slot"]), count=data["count"])
        recent.insert(0, shown)  # newest first
    state = journal.state.jobs.get(job)
    known = (state.notes.get("missed") if state is not None else None) or []
    journal.append("job.note", job=job, data={"missed": (recent + list(known))[:RECENT_MISSED]})


def journal_skipped(journal: Journal, job: str, reason: str, missed: Slots, slot: datetime | None) -> None:
    """Journal `run.skipped {reason}` for the missed slots and the on-time `slot`."""
    records = list(_slot_records(missed))
    if slot is not None and (missed.last is None or slot > missed.last):
        records.append({"slot": format_timestamp(slot)})
    for data in records:
        journal.append(
            "run.skipped", job=job, data={**data, "reason": reason, "message": _skip_message(reason, data)}
        )


def _slot_records(slots: Slots) -> Iterable[dict[str, Any]]:
    if not slots:
        return
    if slots.count <= MISSED_LISTED and len(slots.times) == slots.count:
        for moment in slots.times:
            yield {"slot": format_timestamp(moment)}
        return
    first = slots.first or slots.last
    assert first is not None and slots.last is not None
    yield {
        "slot": format_timestamp(first),
        "last_slot": format_timestamp(slots.last),
        "count": slots.count,
        "more": slots.more,
    }


_SKIP_TEXT = {
    "missed": "missed while backupplan was not running (missed: skip)",
    "paused": "the job is paused",
    "overlap": "the job was still running",
}


def _skip_message(reason: str, data: dict[str, Any]) -> str:
    text = _SKIP_TEXT.get(reason, reason)
    if "count" in data:
        first = parse_timestamp(data["slot"]).strftime("%Y-%m-%d %H:%M")
        last = parse_timestamp(data["last_slot"]).strftime("%Y-%m-%d %H:%M")
        many = f"{'at least ' if data.get('more') else ''}{data['count']}"
        return f"skipped: {many} slots from {first} to {last} UTC: {text}"
    return f"skipped: {text}"
