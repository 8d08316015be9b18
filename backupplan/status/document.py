"""The status document (docs/status-json.md): what `status --json`, the site and monitoring read.

`build_status` gathers everything from the folded journal state, the plan (schedules, descriptions)
and the progress files; it reads no clock of its own (`now` is given) so that its output is exact
and testable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from backupplan import __version__
from backupplan.journal.fold import FAILURE
from backupplan.journal.health import JournalHealth
from backupplan.journal.records import format_timestamp, parse_timestamp, rfc3339
from backupplan.journal.state import JobState, RunSummary, State

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan
    from backupplan.plan.model import Job
    from backupplan.status.facts import StateSpace

STATUS_FORMAT = 1
HEARTBEAT = 60.0  # seconds between two refreshes of status.json by a daemon, even when idle
MISSED_BEATS = 3  # a daemon's status is stale after this many heartbeats without a refresh
TIMER_GRACE = 600.0  # OS timers: stale this long after the next slot passed without a refresh
RECENT_RUNS = 10
INTERRUPTIONS_SHOWN_FOR = timedelta(days=7)
UNTIMED = frozenset({"interrupted", "skipped"})
STATUS_NAMES = (
    "running", "succeeded", "warning", "failed", "held", "interrupted", "paused", "never_run", "removed",
)  # fmt: skip


@dataclass(frozen=True)
class Timing:
    """When a scheduled job runs next, when it becomes overdue, and whether it is."""

    next_run: datetime | None
    overdue: bool
    deadline: datetime | None = None


@dataclass(frozen=True)
class Keeper:
    """What keeps the status fresh: a daemon (refreshing it every `heartbeat` seconds), OS timers
    (`apply` at every slot), or nothing (`manual`: runs are started by hand)."""

    kind: Literal["daemon", "timer", "manual"]
    heartbeat: float | None = None


def stamp(moment: datetime) -> str:
    """Given an aware datetime, return RFC 3339 UTC to the second (`2026-11-28T02:00:03Z`)."""
    return format_timestamp(moment)[:19] + "Z"


def _stamp_or_none(ts: str | None) -> str | None:
    return None if ts is None else rfc3339(ts)


def run_summary(summary: RunSummary) -> dict[str, Any]:
    """Given a RunSummary, return its RunSummary object of the status document."""
    duration = summary.duration
    # An interruption is noticed long after the crash, so its end time says nothing about duration.
    if duration is None and summary.finished_at is not None and summary.status not in UNTIMED:
        ended = parse_timestamp(summary.finished_at)
        duration = (ended - parse_timestamp(summary.started_at)).total_seconds()
    return {
        "run": summary.run,
        "job": summary.job,
        "status": summary.status,
        "reason": summary.reason,
        "trigger": summary.trigger,
        "started_at": rfc3339(summary.started_at),
        "finished_at": _stamp_or_none(summary.finished_at),
        "duration": None if duration is None else round(duration, 3),
        "exit_code": summary.exit_code,
        "bytes": summary.bytes,
        "files": summary.files,
        "attempts": summary.attempts,
        "log": summary.log,
        "changes": summary.changes,
        **({"dumps": summary.dumps} if summary.dumps is not None else {}),  # runs of jobs with dumps
    }


def timing(job: JobState | None, plan_job: Job, plan: LoadedPlan, now: datetime) -> Timing:
    """Given a job with a schedule, return its next run, its deadline and whether it is overdue.

    Cron: the next fire time after now. Interval: the last start plus the interval (now, when that
    is past). The deadline is `overdue_deadline`'s; a paused job keeps it (paused is not silent: it
    becomes overdue like any other) but has no next run; a disabled job has neither.
    """
    from backupplan.plan.schedule import parse_schedule

    assert plan_job.schedule is not None
    if not plan_job.enabled:
        return Timing(None, False)
    deadline = overdue_deadline(job, plan_job, plan)
    overdue = deadline is not None and now > deadline
    if job is not None and job.paused:
        return Timing(None, overdue, deadline)
    schedule = parse_schedule(plan_job.schedule, plan.timezone)
    if schedule.kind == "cron":
        upcoming = schedule.next_runs(plan.timezone, now, 1)
        next_run = upcoming[0] if upcoming else None
    else:
        latest = job.latest_run() if job is not None else None
        base = parse_timestamp(latest.started_at) if latest is not None else now
        next_run = max(base + timedelta(seconds=schedule.interval), now)
    return Timing(next_run, overdue, deadline)


def overdue_deadline(job: JobState | None, plan_job: Job, plan: LoadedPlan) -> datetime | None:
    """Given a scheduled job, return when it becomes overdue: the first slot after its last
    success (or, never successful, after it was first applied) plus `overdue_grace`; None when it
    was never applied or its schedule has no further slot. Pausing and disabling are not checked:
    a paused job has a deadline too."""
    from backupplan.plan.schedule import parse_schedule

    assert plan_job.schedule is not None
    reference_ts = job.last_success or job.first_applied if job is not None else None
    if reference_ts is None:
        return None
    schedule = parse_schedule(plan_job.schedule, plan.timezone)
    grace = timedelta(seconds=plan.plan.settings.overdue_grace)
    reference = parse_timestamp(reference_ts)
    if schedule.kind == "cron":
        after = schedule.next_runs(plan.timezone, reference, 1)
        return after[0] + grace if after else None
    return reference + timedelta(seconds=schedule.interval) + grace


def read_progress(progress_dir: Path | None, job_id: str, current: RunSummary | None) -> Any:
    """Return the running run's progress object, or None (no file, unreadable, or a stale file
    left by an earlier run)."""
    return _progress_of(progress_dir, job_id, current.run if current is not None else None)


def _progress_of(progress_dir: Path | None, job_id: str, run: str | None) -> Any:
    if progress_dir is None or run is None:
        return None
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        progress = orjson.loads((progress_dir / f"{job_id}.json").read_bytes())
        if isinstance(progress, dict) and progress.get("run") == run:
            return progress
    return None


def _failures_since(job: JobState, cutoff: str) -> int:
    """Runs of `job` that ended failed or timed out at or after `cutoff` (a journal timestamp)."""
    last = job.last_run
    if job.failures == 0 or last is None or (last.finished_at or "") < cutoff:
        return 0  # nothing to look for: its history is not even unpacked
    count = 0
    for summary in job.history:
        if summary.finished_at is None or summary.finished_at < cutoff:
            break
        count += summary.status in FAILURE
    return count


def _job_entry(
    job_id: str, job: JobState | None, plan: LoadedPlan | None, now: datetime, progress_dir: Path | None
) -> dict[str, Any]:
    plan_job = plan.jobs.get(job_id) if plan is not None else None
    removed = (plan_job is None) if plan is not None else (job is not None and job.removed)
    status = "never_run" if job is None else job.status_if(removed=removed)
    enabled = plan_job.enabled if plan_job is not None else not removed
    times = Timing(None, False)
    if plan is not None and plan_job is not None and plan_job.schedule:
        times = timing(job, plan_job, plan, now)
    latest = job.latest_run() if job is not None else None
    verify = job.verify if job is not None else None
    entry = {
        "id": job_id,
        "description": plan_job.description if plan_job is not None else None,
        "engine": plan_job.engine if plan_job is not None else (job.engine if job else None),
        "enabled": enabled,
        "status": status,
        "overdue": times.overdue and not removed,
        "deadline": None if times.deadline is None or removed else stamp(times.deadline),
        "paused": job is not None and job.paused,
        "paused_since": _stamp_or_none(job.paused_since) if job is not None and job.paused else None,
        "paused_by": job.paused_by if job is not None and job.paused else None,
        "schedule": plan_job.schedule if plan_job is not None else None,
        "next_run": None if times.next_run is None or removed else stamp(times.next_run),
        "last_run": None if latest is None else run_summary(latest),
        "last_success": _stamp_or_none(job.last_success) if job is not None else None,
        "runs": job.runs if job is not None else 0,
        "failures": job.failures if job is not None else 0,
        "bytes": job.bytes if job is not None else 0,
        "files": job.files if job is not None else 0,
        "progress": read_progress(progress_dir, job_id, job.current if job is not None else None),
        "verify": None
        if verify is None
        else {
            "status": verify.status,
            "at": rfc3339(verify.at),
            "differences": verify.differences,
            "run": verify.run,
        },
    }
    missed = job.notes.get("missed") if job is not None else None
    if missed:  # optional: the recent slots that passed without a run (the scheduler keeps them)
        entry["missed"] = missed
    return entry


def build_status(
    state: State,
    health: JournalHealth,
    *,
    plan: LoadedPlan | None,
    now: datetime,
    progress_dir: Path | None,
    host: str | None = None,
    keeper: Keeper | None = None,
    state_space: StateSpace | None = None,
    publish: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Given the folded state, the journal's health, the plan (or None) and the time, return the
    status document exactly as docs/status-json.md describes it. `host`, `keeper`,
    `state_space` and `publish` are the machine's facts (backupplan.status.facts); the document
    says null where they are not given."""
    ids = set(state.jobs) | (set(plan.jobs) if plan is not None else set())
    jobs = [_job_entry(job_id, state.jobs.get(job_id), plan, now, progress_dir) for job_id in sorted(ids)]
    counts = dict.fromkeys(STATUS_NAMES, 0)
    for entry in jobs:
        counts[entry["status"]] += 1
    cutoff = format_timestamp(now - timedelta(days=1))
    shown_since = format_timestamp(now - INTERRUPTIONS_SHOWN_FOR)
    applied = state.plan
    return {
        "format": STATUS_FORMAT,
        "generated_at": stamp(now),
        "backupplan_version": __version__,
        "host": host,
        "freshness": None if keeper is None else _freshness(keeper, jobs, now),
        "state_dir": None if state_space is None else state_space.to_json(),
        "publish": publish,
        "plan": None
        if plan is None
        else {
            "path": str(plan.path),
            "digest": plan.digest,
            "applied_at": None if applied is None else rfc3339(applied.at),
            "applied_digest": None if applied is None else applied.digest,
        },
        "journal": {
            "records": health.records,
            "last_seq": health.last_seq,
            "healthy": health.healthy,
            "problems": [problem.to_json() for problem in health.problems],
        },
        "summary": {
            "jobs": len(jobs),
            **counts,
            "disabled": sum(1 for entry in jobs if not entry["enabled"] and entry["status"] != "removed"),
            "overdue": sum(1 for entry in jobs if entry["overdue"]),
            "bytes_total": sum(job.bytes for job in state.jobs.values()),
            "failures_24h": sum(_failures_since(job, cutoff) for job in state.jobs.values()),
        },
        "jobs": jobs,
        "recent_runs": [run_summary(summary) for summary in state.recent_runs(RECENT_RUNS)],
        "interruptions": [
            {
                "job": item.job,
                "run": item.run,
                "detected_at": rfc3339(item.detected_at),
                "handled": item.handled,
            }
            for item in reversed(state.interruptions)
            if item.handled == "pending" or item.detected_at >= shown_since
        ],
    }


def _freshness(keeper: Keeper, jobs: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """When the next refresh of this document is due at the latest: a daemon's after
    MISSED_BEATS heartbeats; OS timers' at the next slot of any job, plus TIMER_GRACE."""
    expected: datetime | None = None
    if keeper.kind == "daemon" and keeper.heartbeat:
        expected = now + timedelta(seconds=keeper.heartbeat * MISSED_BEATS)
    elif keeper.kind == "timer":
        slots = [entry["next_run"] for entry in jobs if entry["next_run"]]
        if slots:
            expected = parse_timestamp(min(slots)) + timedelta(seconds=TIMER_GRACE)
    return {
        "kept_by": keeper.kind,
        "heartbeat": keeper.heartbeat,
        "expected_by": None if expected is None else stamp(expected),
    }


def restamped(document: dict[str, Any], now: datetime, keeper: Keeper | None) -> dict[str, Any] | None:
    """Given a document built earlier from the same journal state, return it as of `now` (new
    `generated_at`, freshness, overdue flags and count): what the daemon's heartbeat writes when
    nothing happened. Return None when the passing time changed more than that (a run is going,
    a slot passed, a failure or interruption may have aged out of its window): build it anew."""
    if document["summary"].get("failures_24h") or document["interruptions"]:
        return None
    now_text = stamp(now)
    jobs = []
    for entry in document["jobs"]:
        if entry["status"] == "running" or (entry["next_run"] is not None and entry["next_run"] <= now_text):
            return None
        deadline = entry.get("deadline")
        overdue = deadline is not None and now_text > deadline
        jobs.append(entry if overdue == entry["overdue"] else {**entry, "overdue": overdue})
    summary = {**document["summary"], "overdue": sum(1 for entry in jobs if entry["overdue"])}
    return {
        **document,
        "generated_at": now_text,
        "freshness": None if keeper is None else _freshness(keeper, jobs, now),
        "summary": summary,
        "jobs": jobs,
    }


def with_progress(
    document: dict[str, Any], progress_dir: Path, now: datetime, shown: Callable[[Any], Any]
) -> dict[str, Any]:
    """Given a document built earlier from the same journal state, return it as of a progress tick:
    each running run's progress read anew from its file (made `shown`, the masking of the document
    it joins) and `generated_at` now. What the runner writes once a second while runs move,
    instead of building the document again (~1 ms instead of ~90 for 1,000 jobs)."""
    jobs = []
    for entry in document["jobs"]:
        if entry.get("status") == "running":
            last = entry.get("last_run")
            run = last.get("run") if isinstance(last, dict) else None
            progress = _progress_of(progress_dir, entry["id"], run)
            entry = {**entry, "progress": None if progress is None else shown(progress)}
        jobs.append(entry)
    return {**document, "generated_at": stamp(now), "jobs": jobs}
