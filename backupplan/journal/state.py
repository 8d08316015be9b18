"""The folded state: what the journal's records add up to, per job and for the whole state dir.

Timestamps stay the journal's own strings (`2026-11-28T02:00:41.123Z`) so that folding a million
records parses no dates; `records.parse_timestamp` turns one into a datetime when needed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

JobStatusName = Literal[
    "never_run", "running", "succeeded", "warning", "failed", "interrupted", "paused", "removed"
]
# How an ended run's status maps to its job's status.
_JOB_STATUS_OF_RUN: dict[str, JobStatusName] = {
    "succeeded": "succeeded",
    "warning": "warning",
    "failed": "failed",
    "timed_out": "failed",
    "interrupted": "interrupted",
}
# The engine child's identity, kept so a later start can stop a child that survived a crash.
PROCESS_KEYS = ("pid", "pgid", "start_time", "boot_id")
MIN_HISTORY = 100  # run summaries kept per job whatever log_retention says: the site's charts use them
RECENT_TORN_TAILS = 20
KEPT_INTERRUPTIONS = 200


@dataclass(slots=True)
class RunSummary:
    """One run of one job: started, attempted, ended (or skipped)."""

    run: str
    job: str
    status: str  # running, succeeded, warning, failed, timed_out, interrupted, skipped
    trigger: str | None
    started_at: str
    finished_at: str | None = None
    duration: float | None = None
    exit_code: int | None = None
    bytes: int = 0
    files: int = 0
    attempts: int = 1
    reason: str | None = None
    log: str | None = None
    # pid, pgid, start_time, boot_id of the engine child while running and after an interruption
    process: dict[str, Any] | None = None


@dataclass(slots=True)
class VerifyResult:
    """The outcome of the last verification of a job's copy."""

    status: str  # ok or failed
    at: str
    differences: int
    run: str | None


@dataclass(slots=True)
class Interruption:
    """A run found without an end (its owner died), and what was done about it."""

    job: str
    run: str
    detected_at: str
    reason: str
    handled: str = "pending"  # pending, resumed, paused, dismissed
    process: dict[str, Any] | None = None


@dataclass(slots=True)
class AppliedPlan:
    """The last `plan.applied` record."""

    at: str
    digest: str | None
    path: str | None
    jobs: list[str]


@dataclass(slots=True)
class TornTail:
    """A torn last line that was cut off when the journal was opened."""

    at: str
    bytes: int
    offset: int
    quarantine: str | None = None  # a copy of the journal, kept when whole lines were cut


@dataclass(slots=True)
class DamageNote:
    """A damaged stretch of the journal already reported (and copied aside) once."""

    at: str
    kind: str
    message: str
    quarantine: str | None


@dataclass(slots=True)
class JobState:
    """Everything the journal knows about one job."""

    id: str
    history_limit: int = MIN_HISTORY
    paused: bool = False
    removed: bool = False
    pause_requested: bool = False
    engine: str | None = None
    current: RunSummary | None = None
    last_run: RunSummary | None = None  # the newest ended or skipped run
    last_outcome: RunSummary | None = None  # the newest ended run (skips do not change a job's status)
    last_success: str | None = None
    first_applied: str | None = None
    runs: int = 0
    failures: int = 0
    bytes: int = 0
    files: int = 0
    missed_slots: int = 0
    verify: VerifyResult | None = None
    history: deque[RunSummary] = field(default_factory=deque)  # newest first

    def __post_init__(self) -> None:
        if self.history.maxlen != self.history_limit:
            self.history = deque(self.history, maxlen=self.history_limit)

    @property
    def status(self) -> JobStatusName:
        """The job's status: running beats removed beats paused beats the last run's outcome."""
        if self.current is not None:
            return "running"
        if self.removed:
            return "removed"
        if self.paused:
            return "paused"
        if self.last_outcome is None:
            return "never_run"
        return _JOB_STATUS_OF_RUN.get(self.last_outcome.status, "failed")

    def latest_run(self) -> RunSummary | None:
        """The running run if there is one, else the newest ended or skipped run."""
        return self.current or self.last_run


@dataclass(slots=True)
class State:
    """The folded state of a whole state dir."""

    history_limit: int = MIN_HISTORY
    jobs: dict[str, JobState] = field(default_factory=dict)
    plan: AppliedPlan | None = None
    interruptions: list[Interruption] = field(default_factory=list)  # oldest first
    torn_tails: list[TornTail] = field(default_factory=list)  # oldest first
    known_damage: dict[str, DamageNote] = field(default_factory=dict)
    records: int = 0  # records folded into this state, compacted ones included
    last_seq: int = 0

    def job(self, job_id: str) -> JobState:
        """Return the job's state, creating an empty one for a job not seen before."""
        found = self.jobs.get(job_id)
        if found is None:
            found = self.jobs[job_id] = JobState(job_id, self.history_limit)
        return found

    def interruption(self, job: str, run: str) -> Interruption | None:
        """Return the interruption recorded for this run, if any."""
        for item in reversed(self.interruptions):
            if item.job == job and item.run == run:
                return item
        return None

    def open_runs(self) -> list[RunSummary]:
        """Runs that started and have no end yet, ordered by job id."""
        return [job.current for _, job in sorted(self.jobs.items()) if job.current is not None]

    def recent_runs(self, count: int) -> list[RunSummary]:
        """The newest `count` runs across all jobs (running ones included), newest first."""
        runs: list[RunSummary] = []
        for job in self.jobs.values():
            if job.current is not None:
                runs.append(job.current)
            runs.extend(list(job.history)[:count])
        runs.sort(key=lambda summary: summary.started_at, reverse=True)
        return runs[:count]
