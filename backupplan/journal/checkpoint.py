"""The checkpoint: folded State as the `data` of a `journal.checkpoint` record.

Compaction replaces the journal with one checkpoint line (plus whatever is appended after it), so
opening the journal costs the same after ten years as after ten days. Run summaries are stored as
arrays, not objects: a checkpoint of 1,000 jobs with 100 runs each parses several times faster.
A job's `last_run` is always the newest history entry and its `last_outcome` the newest one that is
not a skip, so neither is stored twice.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from backupplan.journal.state import (
    AppliedPlan,
    DamageNote,
    Interruption,
    JobState,
    RunSummary,
    State,
    TornTail,
    VerifyResult,
)

CHECKPOINT_FORMAT = 1


def _run(summary: RunSummary) -> list[Any]:
    return [
        summary.run, summary.status, summary.trigger, summary.started_at, summary.finished_at,
        summary.duration, summary.exit_code, summary.bytes, summary.files, summary.attempts,
        summary.reason, summary.log, summary.process,
    ]  # fmt: skip


def _job(job: JobState) -> dict[str, Any]:
    history = [_run(summary) for summary in job.history]
    outcome_in_history = job.last_outcome is None or any(item is job.last_outcome for item in job.history)
    return {
        "paused": job.paused,
        "removed": job.removed,
        "pause_requested": job.pause_requested,
        "engine": job.engine,
        "last_success": job.last_success,
        "first_applied": job.first_applied,
        "runs": job.runs,
        "failures": job.failures,
        "bytes": job.bytes,
        "files": job.files,
        "missed_slots": job.missed_slots,
        "verify": None
        if job.verify is None
        else [job.verify.status, job.verify.at, job.verify.differences, job.verify.run],
        "current": None if job.current is None else _run(job.current),
        "last_outcome": None if outcome_in_history else _run(job.last_outcome),  # type: ignore[arg-type]
        "history": history,
    }


def dump(state: State) -> dict[str, Any]:
    """Given the folded state, return the checkpoint record's data."""
    plan = state.plan
    return {
        "format": CHECKPOINT_FORMAT,
        "records": state.records,
        "plan": None if plan is None else [plan.at, plan.digest, plan.path, plan.jobs],
        "jobs": {job_id: _job(job) for job_id, job in state.jobs.items()},
        "interruptions": [
            [item.job, item.run, item.detected_at, item.reason, item.handled, item.process]
            for item in state.interruptions
        ],
        "torn_tails": [[tail.at, tail.bytes, tail.offset, tail.quarantine] for tail in state.torn_tails],
        "known_damage": {
            fingerprint: [note.at, note.kind, note.message, note.quarantine]
            for fingerprint, note in state.known_damage.items()
        },
    }


def load(data: dict[str, Any], seq: int, history_limit: int) -> State:
    """Given a checkpoint record's data and seq, return the State it holds; raise ValueError (or
    KeyError/TypeError) when the data is not a checkpoint this version can read."""
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint format {data.get('format')!r} is not {CHECKPOINT_FORMAT}")
    state = State(history_limit=history_limit, records=data["records"], last_seq=seq)
    plan = data.get("plan")
    if plan is not None:
        state.plan = AppliedPlan(*plan)
    for job_id, raw in data["jobs"].items():
        state.jobs[job_id] = _load_job(job_id, raw, history_limit)
    state.interruptions = [Interruption(*item) for item in data.get("interruptions") or []]
    state.torn_tails = [TornTail(*item) for item in data.get("torn_tails") or []]
    state.known_damage = {
        fingerprint: DamageNote(*note) for fingerprint, note in (data.get("known_damage") or {}).items()
    }
    return state


def _load_job(job_id: str, raw: dict[str, Any], history_limit: int) -> JobState:
    history = deque(
        (RunSummary(item[0], job_id, *item[1:]) for item in raw["history"][:history_limit]),
        maxlen=history_limit,
    )
    job = JobState(
        job_id,
        history_limit,
        paused=raw["paused"],
        removed=raw["removed"],
        pause_requested=raw["pause_requested"],
        engine=raw["engine"],
        last_success=raw["last_success"],
        first_applied=raw["first_applied"],
        runs=raw["runs"],
        failures=raw["failures"],
        bytes=raw["bytes"],
        files=raw["files"],
        missed_slots=raw["missed_slots"],
        history=history,
    )
    if raw["verify"] is not None:
        job.verify = VerifyResult(*raw["verify"])
    if raw["current"] is not None:
        job.current = RunSummary(raw["current"][0], job_id, *raw["current"][1:])
    job.last_run = history[0] if history else None
    if raw["last_outcome"] is not None:
        job.last_outcome = RunSummary(raw["last_outcome"][0], job_id, *raw["last_outcome"][1:])
    else:
        job.last_outcome = next((item for item in history if item.status != "skipped"), None)
    return job
