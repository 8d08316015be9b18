"""Which jobs are due, and why: one pure function that `plan`, `apply` and the daemon share.

`assess(loaded, state, applied, now)` reads nothing but its arguments (the journal's folded state,
the last applied plan and the time) and returns one Assessment per job of the plan: run it now or
not, with which trigger, for which slot, why, and what to journal about the slots it passed (see
docs/scheduling.md for the rules, with examples). The caller journals and runs; this module never
writes.

A job's *anchor* is the start of its latest run, whatever became of it (skipped runs included):
every slot up to the anchor has been handled, every slot after it is due. Rules, first match wins:

1. disabled: nothing, ever;
2. a run a crash interrupted and nobody handled yet: `recovery: resume` runs it again (trigger
   resume), `recovery: pause` pauses the job; a later run of the job already superseded it;
3. running (here or elsewhere): its slots are skipped as overlaps;
4. paused: its slots are skipped as paused;
5. no schedule: manual only;
6. never run: due now (a new job has no copy at all; waiting up to a month for its first slot
   would leave it unprotected);
7. its engine, source or destination changed since the last apply: due now (the new destination
   has no copy yet);
8. its latest run was interrupted (daemon shutdown, Ctrl-C of a scheduled run): due, resumed;
9. slots since the anchor: the latest one, if recent (`ON_TIME`), runs as scheduled; earlier ones
   were missed: `missed: run_once` runs once for all of them (trigger catch_up), `skip` skips each;
10. a failed (or network-skipped) run waits for its retry time, then is due again;
11. otherwise: nothing until the next slot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from backupplan.journal.records import parse_timestamp
from backupplan.journal.state import Interruption, JobState, State
from backupplan.scheduler.slots import NO_SLOTS, Slots, due_slots

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan
    from backupplan.plan.model import Job
    from backupplan.plan.schedule import Schedule
    from backupplan.runner.results import Trigger

LOCATION_FIELDS = ("engine", "source", "destination")
RETRY_NOTE = "retry"  # the job.note key the dispatcher keeps a failed run's retry time under

RecoveryAction = Literal["resumed", "paused", "dismissed"]


@dataclass(frozen=True)
class Recovery:
    """What is done about a run a crash interrupted: resumed, paused or dismissed, and why."""

    job: str
    run: str
    action: RecoveryAction
    message: str
    process: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Assessment:
    """One job's verdict. When `run`, start it with `trigger` for `slot`; `missed` slots are
    journaled with `missed_action`; when not run and `skipped` is set, `slot` and the `missed`
    slots end as `run.skipped` with that reason. `retry_at`: when a failed run may be retried."""

    job: str
    run: bool
    reason: str
    trigger: Trigger | None = None
    slot: datetime | None = None
    missed: Slots = NO_SLOTS
    missed_action: Literal["run_once", "skip"] | None = None
    skipped: Literal["paused", "overlap"] | None = None
    recovery: Recovery | None = None
    retry_at: datetime | None = None
    overdue: bool = False


@dataclass(frozen=True)
class Context:
    """What every job's assessment needs besides its own state."""

    loaded: LoadedPlan
    state: State
    now: datetime
    applied_jobs: Mapping[str, Mapping[str, Any]] | None
    pending: Mapping[str, Interruption]
    busy: Callable[[str], str | None]
    first_trigger: Trigger
    timezone: tzinfo = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timezone", self.loaded.timezone)

    def when(self, moment: datetime) -> str:
        """A time for people, in the plan's timezone: `2026-11-28 03:00 CET`."""
        # Through UTC: astimezone() to the same zone keeps a wall time that does not exist (the
        # skipped hour of a spring-forward day) as it is.
        return moment.astimezone(UTC).astimezone(self.timezone).strftime("%Y-%m-%d %H:%M %Z")


# What `busy` answers for a job this process already started (or queued): its run covers the
# slot, so nothing is journaled about it; another process's claim makes the slot an overlap.
CLAIMED_HERE = "it is already queued or running in this process"


def never_busy(job_id: str) -> str | None:
    return None


def assess(
    loaded: LoadedPlan,
    state: State,
    applied: Mapping[str, Any] | None,
    now: datetime,
    *,
    busy: Callable[[str], str | None] = never_busy,
    first_trigger: Trigger = "apply",
    only: set[str] | None = None,
) -> list[Assessment]:
    """Given the plan, the journal's state, the last applied plan (its normalized form, or None)
    and now, return an Assessment per job of the plan (or of `only`), in plan order.

    `busy(job)` says why a job that would run cannot (another process holds its lock), or None;
    it is asked only about jobs that would run. `first_trigger` is the trigger of first runs and
    of changed jobs (apply, or catch_up for the daemon's later checks).
    """
    pending: dict[str, Interruption] = {}
    for item in state.interruptions:
        if item.handled == "pending":
            pending[item.job] = item  # the newest one wins
    context = Context(
        loaded,
        state,
        now,
        None if applied is None else applied.get("jobs", {}),
        pending,
        busy,
        first_trigger,
    )
    return [
        assess_job(job_id, job, state.jobs.get(job_id), context)
        for job_id, job in loaded.jobs.items()
        if only is None or job_id in only
    ]


def assess_job(job_id: str, job: Job, job_state: JobState | None, context: Context) -> Assessment:
    """Apply the module's rules to one job (see the module docstring)."""
    from backupplan.plan.schedule import parse_schedule

    if not job.enabled:
        return Assessment(job_id, False, "disabled (enabled: false)")
    schedule = parse_schedule(job.schedule, context.timezone) if job.schedule else None
    latest = job_state.latest_run() if job_state is not None else None
    anchor = parse_timestamp(latest.started_at) if latest is not None else None
    on_time: datetime | None = None
    missed = NO_SLOTS
    if schedule is not None and anchor is not None:
        on_time, missed = due_slots(schedule, context.timezone, anchor, context.now)

    def verdict(reason: str, **fields: Any) -> Assessment:
        if schedule is not None and "overdue" not in fields:
            quiet = on_time is None and not missed  # no slot since the last run: see _overdue
            fields["overdue"] = _overdue(job, job_state, context, anchor if quiet else None)
        return Assessment(job_id, False, reason, **fields)

    def run(trigger: Trigger, reason: str, **fields: Any) -> Assessment:
        fields.setdefault("slot", on_time or missed.last)
        if missed and "missed_action" not in fields:
            fields["missed"] = missed
            fields["missed_action"] = job.missed
        claimed = context.busy(job_id)
        if claimed == CLAIMED_HERE:
            return verdict(f"busy: {claimed}", recovery=fields.get("recovery"))
        if claimed is not None:
            return verdict(
                f"busy: {claimed}", slot=fields["slot"], missed=missed, skipped="overlap",
                recovery=fields.get("recovery"),
            )  # fmt: skip
        return Assessment(job_id, True, reason, trigger, **fields)

    # 2. a run a crash interrupted, not handled yet
    recovery: Recovery | None = None
    interruption = context.pending.get(job_id)
    if interruption is not None:
        process = interruption.process
        if latest is not None and latest.run != interruption.run:
            recovery = Recovery(
                job_id, interruption.run, "dismissed", "a later run of the job already started", process
            )
        elif job_state is not None and job_state.paused:
            recovery = Recovery(job_id, interruption.run, "paused", "the job is paused", process)
        elif context.loaded.plan.settings.recovery == "pause":
            recovery = Recovery(
                job_id, interruption.run, "paused",
                f"paused until `backupplan resume {job_id}` (recovery: pause)", process,
            )  # fmt: skip
            return verdict(
                f"held: run {interruption.run} was interrupted by a crash; {recovery.message}",
                recovery=recovery, slot=on_time, missed=missed, skipped="paused",
            )  # fmt: skip
        else:
            recovery = Recovery(job_id, interruption.run, "resumed", "recovery: resume", process)
            return run(
                "resume",
                f"interrupted by a crash (run {interruption.run}): resuming (recovery: resume)",
                recovery=recovery,
            )

    # 3, 4, 5: running, paused, manual only
    if job_state is not None and job_state.current is not None:
        current = job_state.current
        return verdict(
            f"running (run {current.run}, since {context.when(parse_timestamp(current.started_at))})",
            slot=on_time, missed=missed, skipped="overlap", recovery=recovery,
        )  # fmt: skip
    if job_state is not None and job_state.paused:
        return verdict(
            f"paused: `backupplan resume {job_id}` lets it run again",
            slot=on_time, missed=missed, skipped="paused", recovery=recovery,
        )  # fmt: skip
    if schedule is None:
        return verdict("manual only (no schedule)", recovery=recovery)

    # 6, 7, 8: never run, moved, interrupted
    if anchor is None:
        return run(context.first_trigger, "never run", recovery=recovery)
    moved = _moved(job_id, context)
    if moved:
        return run(context.first_trigger, f"changed: {moved}", recovery=recovery)
    last = job_state.last_outcome if job_state is not None else None
    if last is not None and last.status == "interrupted" and last.trigger not in (None, "manual"):
        crash = context.state.interruption(job_id, last.run)
        # A crash's interruption is resumed by its recovery (rule 2), or was paused or dismissed.
        if crash is None or crash.handled == "resumed":
            stopped = context.when(parse_timestamp(last.finished_at or last.started_at))
            return run(
                "resume", f"its run {last.run} was interrupted at {stopped}: resuming", recovery=recovery
            )

    # 9: slots
    if missed:
        since = context.when(missed.first or missed.last or context.now)
        text = f"missed {missed.describe()} since {since}"
        if job.missed == "run_once":
            trigger: Trigger = "schedule" if on_time is not None else "catch_up"
            return run(trigger, f"{text} (missed: run_once: one run for all)", recovery=recovery)
        if on_time is not None:
            return run("schedule", f"slot {context.when(on_time)}; {text} (missed: skip)", recovery=recovery)
        return verdict(
            f"{text} (missed: skip); next slot {_next_slot(schedule, anchor, context)}",
            missed=missed, missed_action="skip", recovery=recovery,
        )  # fmt: skip
    if on_time is not None:
        return run("schedule", f"slot {context.when(on_time)}", recovery=recovery)

    # 10: a failed run's retry
    retry = _retry(job_state)
    if retry is not None:
        retry_at, failures = retry
        if retry_at <= context.now:
            return run(
                "catch_up", f"retry: the last run did not succeed ({failures} in a row)", recovery=recovery
            )
        return verdict(
            f"waiting to retry at {context.when(retry_at)} (the last run did not succeed)",
            retry_at=retry_at, recovery=recovery,
        )  # fmt: skip
    upcoming = missed.upcoming  # found with the slots (none came since the anchor)
    when = context.when(upcoming) if upcoming is not None else _next_slot(schedule, anchor, context)
    return verdict(f"next slot {when}", recovery=recovery)


def _moved(job_id: str, context: Context) -> str:
    """`destination /a → /b` when the job's engine, source or destination changed since the last
    apply, else ""."""
    if context.applied_jobs is None or job_id not in context.applied_jobs:
        return ""
    from backupplan.secrets import mask

    old = context.applied_jobs[job_id]
    job = context.loaded.jobs[job_id]
    # The applied plan is normalized (secrets masked): compare like with like.
    new = {"engine": job.engine, "source": mask(job.source), "destination": mask(job.destination)}
    changes = [
        f"{name} {old.get(name)} → {new[name]}" for name in LOCATION_FIELDS if old.get(name) != new[name]
    ]
    return ", ".join(changes)


def _retry(job_state: JobState | None) -> tuple[datetime, int] | None:
    """When a failed run may be retried and how many failed in a row (the dispatcher's note),
    unless a success came since."""
    note = job_state.notes.get(RETRY_NOTE) if job_state is not None else None
    if job_state is None or not isinstance(note, dict):
        return None
    try:
        failed_at, retry_at = parse_timestamp(note["at"]), parse_timestamp(note["next"])
        failures = int(note.get("failures") or 1)
    except (KeyError, TypeError, ValueError):
        return None
    if job_state.last_success is not None and parse_timestamp(job_state.last_success) >= failed_at:
        return None
    return retry_at, failures


def _next_slot(schedule: Schedule, anchor: datetime, context: Context) -> str:
    if schedule.kind == "interval":
        step = timedelta(seconds=schedule.interval)
        upcoming = anchor + step
        if upcoming <= context.now:
            upcoming += step * (int((context.now - upcoming) / step) + 1)
        return context.when(upcoming)
    times = schedule.next_runs(context.timezone, context.now, 1)
    return context.when(times[0]) if times else "never"


def _overdue(job: Job, job_state: JobState | None, context: Context, quiet_since: datetime | None) -> bool:
    """The status rule (docs/status-json.md). `quiet_since`: the anchor, when no slot came since;
    then a last success (or first apply) at or after it cannot be overdue: the first slot after
    it is still to come. That spares most jobs the search for that slot (`plan` of 1,000 jobs)."""
    from backupplan.status.document import overdue_deadline

    if job_state is None or job_state.paused or not job.enabled:
        return False
    reference = job_state.last_success or job_state.first_applied
    if reference is None:
        return False
    if quiet_since is not None and parse_timestamp(reference) >= quiet_since:
        return False
    deadline = overdue_deadline(job_state, job, context.loaded)
    return deadline is not None and context.now > deadline
