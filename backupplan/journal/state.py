"""The folded state: what the journal's records add up to, per job and for the whole state dir.

Timestamps stay the journal's own strings (`2026-11-28T02:00:41.123Z`) so that folding a million
records parses no dates; `records.parse_timestamp` turns one into a datetime when needed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import orjson

JobStatusName = Literal[
    "never_run", "running", "succeeded", "warning", "failed", "held", "interrupted", "paused", "removed"
]
# How an ended run's status maps to its job's status.
_JOB_STATUS_OF_RUN: dict[str, JobStatusName] = {
    "succeeded": "succeeded",
    "warning": "warning",
    "failed": "failed",
    "timed_out": "failed",
    "held": "held",
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
    status: str  # running, succeeded, warning, failed, timed_out, held, interrupted, skipped
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
    changes: dict[str, int] | None = None  # {"added": N, "changed": N, "deleted": N} at the destination
    total_files: int | None = None  # files the source had (so, a mirror's destination after the run)
    dumps: list[dict[str, Any]] | None = None  # the run's database dumps (docs/dumps.md), if it took any


def run_row(summary: RunSummary) -> list[Any]:
    """A RunSummary as a compact array (its job is implied): how checkpoints store runs."""
    return [
        summary.run, summary.status, summary.trigger, summary.started_at, summary.finished_at,
        summary.duration, summary.exit_code, summary.bytes, summary.files, summary.attempts,
        summary.reason, summary.log, summary.process, summary.changes, summary.total_files, summary.dumps,
    ]  # fmt: skip


def run_from_row(job: str, row: list[Any]) -> RunSummary:
    """The RunSummary of a `run_row` array (rows of older checkpoints are shorter)."""
    return RunSummary(row[0], job, *row[1:16])


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
    paused_since: str | None = None  # when the job was paused, and by whom (`backupplan pause`,
    paused_by: str | None = None  # `recovery`): what a paused job's overdue notice says
    overdue_since: str | None = None  # the deadline of the open overdue episode, if any
    engine: str | None = None
    current: RunSummary | None = None
    last_run: RunSummary | None = None  # the newest ended or skipped run
    last_outcome: RunSummary | None = None  # the newest ended run (skips do not change a job's status)
    last_success: str | None = None
    last_total_files: int | None = None  # files at the destination after the last success (guard)
    first_applied: str | None = None
    runs: int = 0
    failures: int = 0
    bytes: int = 0
    files: int = 0
    missed_slots: int = 0
    verify: VerifyResult | None = None
    # What other layers keep about the job between runs (`job.note` records), e.g. "notify":
    # the notification streak state. Opaque here; survives compaction.
    notes: dict[str, Any] = field(default_factory=dict)
    # The history as a checkpoint stored it (a JSON array of run rows), unpacked on first use:
    # opening a compacted journal then parses no history that nobody reads.
    packed_history: str | None = field(default=None, repr=False)
    _history: deque[RunSummary] | None = field(default=None, repr=False)

    @property
    def history(self) -> deque[RunSummary]:
        """Run summaries, newest first, at most `history_limit` of them."""
        if self._history is None:
            self._history = deque(maxlen=self.history_limit)
            if self.packed_history is not None:
                self._history.extend(self._unpack(orjson.loads(self.packed_history)))
                self.packed_history = None
        return self._history

    def _unpack(self, rows: Iterable[list[Any]]) -> Iterable[RunSummary]:
        # The newest run and the newest outcome are already loaded: keep them the same objects.
        known = {summary.run: summary for summary in (self.last_run, self.last_outcome) if summary}
        for row in islice(rows, self.history_limit):
            yield known.get(row[0]) or run_from_row(self.id, row)

    def history_rows(self) -> str:
        """The history as a JSON array of run rows (what a checkpoint stores)."""
        if self._history is None and self.packed_history is not None:
            return self.packed_history
        return orjson.dumps([run_row(summary) for summary in self.history]).decode()

    @property
    def status(self) -> JobStatusName:
        """The job's status: running beats removed beats paused beats the last run's outcome."""
        return self.status_if(removed=self.removed)

    def status_if(self, *, removed: bool) -> JobStatusName:
        """The job's status when its being removed is decided elsewhere (by the plan file)."""
        if self.current is not None:
            return "running"
        if removed:
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
        """The newest `count` runs across all jobs (running ones included), newest first.

        Jobs are visited newest last run first, and a job's history is read only while it can
        still hold one of the `count` newest runs.
        """
        runs = [job.current for job in self.jobs.values() if job.current is not None]
        ran = [job for job in self.jobs.values() if job.last_run is not None]
        ran.sort(key=lambda job: job.last_run.started_at, reverse=True)  # type: ignore[union-attr]
        for job in ran:
            if len(runs) >= count:
                runs.sort(key=_started, reverse=True)
                del runs[count:]
                if job.last_run.started_at < runs[-1].started_at:  # type: ignore[union-attr]
                    break
            runs.extend(islice(job.history, count))
        runs.sort(key=_started, reverse=True)
        return runs[:count]


def _started(summary: RunSummary) -> str:
    return summary.started_at
