"""The checkpoint: folded State as the `data` of a `journal.checkpoint` record.

Compaction replaces the journal with one checkpoint line (plus whatever is appended after it), so
opening the journal costs the same after ten years as after ten days. Run summaries are stored as
arrays, not objects, and each job's history is one JSON string holding such an array: opening
parses it only when something reads that job's history (the status needs just the last run, which
is stored on its own), so a checkpoint of 1,000 jobs x 100 runs opens in a fraction of the time.
"""

from __future__ import annotations

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
    run_from_row,
    run_row,
)

CHECKPOINT_FORMAT = 1


def _row(summary: RunSummary | None) -> list[Any] | None:
    return None if summary is None else run_row(summary)


def _job(job: JobState) -> dict[str, Any]:
    return {
        "paused": job.paused,
        "removed": job.removed,
        "pause_requested": job.pause_requested,
        "paused_since": job.paused_since,
        "paused_by": job.paused_by,
        "overdue_since": job.overdue_since,
        "engine": job.engine,
        "last_success": job.last_success,
        "last_total_files": job.last_total_files,
        "first_applied": job.first_applied,
        "runs": job.runs,
        "failures": job.failures,
        "bytes": job.bytes,
        "files": job.files,
        "missed_slots": job.missed_slots,
        "verify": None
        if job.verify is None
        else [job.verify.status, job.verify.at, job.verify.differences, job.verify.run],
        "current": _row(job.current),
        "last_run": _row(job.last_run),
        "last_outcome": _row(job.last_outcome),
        "history": job.history_rows(),
        "notes": job.notes,
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
    job = JobState(
        job_id,
        history_limit,
        paused=raw["paused"],
        removed=raw["removed"],
        pause_requested=raw["pause_requested"],
        paused_since=raw.get("paused_since"),  # added within checkpoint format 1
        paused_by=raw.get("paused_by"),
        overdue_since=raw.get("overdue_since"),
        engine=raw["engine"],
        last_success=raw["last_success"],
        last_total_files=raw.get("last_total_files"),
        first_applied=raw["first_applied"],
        runs=raw["runs"],
        failures=raw["failures"],
        bytes=raw["bytes"],
        files=raw["files"],
        missed_slots=raw["missed_slots"],
        packed_history=raw["history"],
        notes=dict(raw.get("notes") or {}),
    )
    if not isinstance(job.packed_history, str):
        raise TypeError(f"the history of {job_id} is not a packed array")
    if raw["verify"] is not None:
        job.verify = VerifyResult(*raw["verify"])
    if raw["current"] is not None:
        job.current = run_from_row(job_id, raw["current"])
    if raw["last_run"] is not None:
        job.last_run = run_from_row(job_id, raw["last_run"])
    if raw["last_outcome"] is not None:
        same = job.last_run is not None and job.last_run.run == raw["last_outcome"][0]
        job.last_outcome = job.last_run if same else run_from_row(job_id, raw["last_outcome"])
    return job
