"""Fold decoded records into State, one at a time, in sequence order.

The fold takes the decoded line (a dict) rather than a Record so that replaying a million records
builds no extra objects. Record types it does not know are counted and otherwise ignored: they are
forward-compatible within format 1. Each handler tolerates missing data keys, because a record
written by a later backupplan may carry fewer or more of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backupplan.journal import records as types
from backupplan.journal.state import (
    KEPT_INTERRUPTIONS,
    PROCESS_KEYS,
    RECENT_TORN_TAILS,
    AppliedPlan,
    DamageNote,
    Interruption,
    JobState,
    RunSummary,
    State,
    TornTail,
    VerifyResult,
)

Raw = dict[str, Any]

INTERRUPTION_REASONS = {
    "crash": "interrupted: backupplan stopped before the run ended (crash or power cut)",
    "signal": "interrupted by a signal",
    "pause": "interrupted: the job was paused",
    "shutdown": "interrupted: backupplan was shut down",
    "superseded": "interrupted: a new run started before this one ended",
}
SKIP_REASONS = {
    "overlap": "skipped: the previous run was still going",
    "network": "skipped: the network did not answer",
    "paused": "skipped: the job is paused",
    "disabled": "skipped: the job is disabled",
    "missed": "skipped: missed while backupplan was not running",
    "dst": "skipped: the clocks went back and this time of day had already run",
}
SUCCESS = frozenset({"succeeded", "warning"})
FAILURE = frozenset({"failed", "timed_out"})


class Folder:
    """Applies records to one State."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._handlers: dict[str, Callable[[Raw], None]] = {
            types.PLAN_APPLIED: self._plan_applied,
            types.RUN_STARTED: self._run_started,
            types.RUN_ATTEMPT: self._run_attempt,
            types.RUN_CHILD: self._run_child,
            types.RUN_FINISHED: self._run_finished,
            types.RUN_INTERRUPTED: self._run_interrupted,
            types.RUN_SKIPPED: self._run_skipped,
            types.SLOT_MISSED: self._slot_missed,
            types.JOB_PAUSED: self._job_paused,
            types.JOB_RESUMED: self._job_resumed,
            types.JOB_REMOVED: self._job_removed,
            types.CONTROL_PAUSE: self._control_pause,
            types.CONTROL_RESUME: self._control_resume,
            types.RECOVERY_HANDLED: self._recovery_handled,
            types.VERIFY_FINISHED: self._verify_finished,
            types.JOB_NOTE: self._job_note,
            types.JOB_OVERDUE: self._job_overdue,
            types.JOB_ON_TIME: self._job_on_time,
            types.TORN_TAIL: self._torn_tail,
            types.DAMAGED: self._damaged,
            types.REPAIRED: self._repaired,
        }

    def apply(self, record: Raw) -> None:
        """Fold one decoded record (its checksum and sequence number already checked)."""
        state = self.state
        state.records += 1
        state.last_seq = record["seq"]
        handler = self._handlers.get(record["type"])
        if handler is not None:
            handler(record)

    def apply_unrecorded(self, record: Raw) -> None:
        """Fold a record that is not in the journal (what a read-only reader concludes on its own,
        e.g. that a run was interrupted): state changes, record count and last seq do not."""
        handler = self._handlers.get(record["type"])
        if handler is not None:
            handler(record)

    # -- helpers ---------------------------------------------------------------------------------

    def _job_of(self, record: Raw) -> JobState | None:
        job_id = record.get("job")
        found = self.state.jobs.get(job_id)  # type: ignore[arg-type]
        if found is None and isinstance(job_id, str):
            found = self.state.job(job_id)
        return found

    @staticmethod
    def _data(record: Raw) -> Raw:
        data = record.get("data")
        return data if data.__class__ is dict else {}

    def _end(self, job: JobState, summary: RunSummary, status: str, ts: str, data: Raw) -> None:
        summary.status = status
        summary.finished_at = ts
        duration = data.get("duration")
        summary.duration = float(duration) if isinstance(duration, int | float) else None
        if "exit_code" in data:
            summary.exit_code = data["exit_code"]
        summary.bytes = data.get("bytes") or 0
        summary.files = data.get("files") or 0
        summary.attempts = data.get("attempts") or summary.attempts
        summary.reason = data.get("reason") or _default_reason(status, summary.exit_code)
        changes = data.get("changes")
        if changes.__class__ is dict:
            summary.changes = {key: changes.get(key) or 0 for key in ("added", "changed", "deleted")}
        total = data.get("total_files")
        summary.total_files = total if isinstance(total, int) else None
        dumps = data.get("dumps")
        summary.dumps = dumps if dumps.__class__ is list else None
        if status == "interrupted":
            # Keep who the engine child was, so that a later start can stop it if it survived.
            process = summary.process or {}
            summary.process = {key: process[key] for key in PROCESS_KEYS if key in process} or None
        else:
            summary.process = None  # the child is gone: nothing left to stop
        job.runs += 1
        job.bytes += summary.bytes
        job.files += summary.files
        if status in FAILURE:
            job.failures += 1
        elif status in SUCCESS:
            job.last_success = ts
            if summary.total_files is not None:
                job.last_total_files = summary.total_files
        job.history.appendleft(summary)
        job.last_run = job.last_outcome = summary
        if job.current is summary:
            job.current = None
            job.pause_requested = False

    # -- handlers --------------------------------------------------------------------------------

    def _plan_applied(self, record: Raw) -> None:
        data = self._data(record)
        ts = record["ts"]
        listed = [job for job in data.get("jobs") or [] if isinstance(job, str)]
        self.state.plan = AppliedPlan(ts, data.get("digest"), data.get("path"), listed)
        for job_id in listed:
            job = self.state.job(job_id)
            job.removed = False
            if job.first_applied is None:
                job.first_applied = ts
        gone = {job for job in data.get("removed") or [] if isinstance(job, str)}
        if "jobs" in data:
            gone.update(set(self.state.jobs) - set(listed))
        for job_id in gone:
            self.state.job(job_id).removed = True

    def _run_started(self, record: Raw) -> None:
        job = self._job_of(record)
        run = record.get("run")
        if job is None or run.__class__ is not str:
            return
        data = self._data(record)
        ts = record["ts"]
        previous = job.current
        if previous is not None and previous.run != run:
            # Its owner could not have started a new run while this one was alive: it ended unseen.
            self._end(job, previous, "interrupted", ts, {"reason": INTERRUPTION_REASONS["superseded"]})
        engine = data.get("engine")
        if engine:
            job.engine = engine
        # While it runs, `process` is the run.started data itself: pid, pgid, start_time, boot_id, …
        job.current = RunSummary(
            run, job.id, "running", data.get("trigger"), ts, None, None, None, 0, 0,
            data.get("attempt") or 1, None, data.get("log"), data,
        )  # fmt: skip

    def _current(self, record: Raw) -> tuple[JobState, RunSummary] | None:
        job = self.state.jobs.get(record.get("job"))  # type: ignore[arg-type]
        if job is None:
            return None
        current = job.current
        if current is None or current.run != record.get("run"):
            return None
        return job, current

    def _run_attempt(self, record: Raw) -> None:
        found = self._current(record)
        if found is None:
            return
        data = self._data(record)
        summary = found[1]
        summary.attempts = data.get("attempt") or summary.attempts
        if "exit_code" in data:
            summary.exit_code = data["exit_code"]

    def _run_child(self, record: Raw) -> None:
        # The engine child of the current attempt: its identity replaces the run's process facts,
        # so that after a crash a survivor can be found and stopped.
        found = self._current(record)
        if found is None:
            return
        summary = found[1]
        summary.process = {**(summary.process or {}), **self._data(record)}

    def _run_finished(self, record: Raw) -> None:
        data = self._data(record)
        status = data.get("status") or "failed"
        found = self._current(record)
        if found is not None:
            self._end(found[0], found[1], status, record["ts"], data)
            return
        job = self._job_of(record)
        run = record.get("run")
        if job is None or not isinstance(run, str) or (job.last_run and job.last_run.run == run):
            return  # no job, or that run already ended
        # An end without a start (the start was lost to damage): keep what the end says.
        summary = RunSummary(run, job.id, status, None, record["ts"])
        self._end(job, summary, status, record["ts"], data)

    def _run_interrupted(self, record: Raw) -> None:
        found = self._current(record)
        if found is None:
            return
        job, summary = found
        data = self._data(record)
        reason = data.get("reason") or "crash"
        facts = {key: data[key] for key in PROCESS_KEYS if key in data}
        if facts:
            summary.process = {**(summary.process or {}), **facts}
        text = data.get("message") or INTERRUPTION_REASONS.get(reason, f"interrupted: {reason}")
        self._end(job, summary, "interrupted", record["ts"], {"reason": text})
        if reason == "crash":
            interruptions = self.state.interruptions
            interruptions.append(
                Interruption(job.id, summary.run, record["ts"], reason, "pending", summary.process)
            )
            if len(interruptions) > KEPT_INTERRUPTIONS:
                for index, item in enumerate(interruptions):
                    if item.handled != "pending":
                        del interruptions[index]
                        break

    def _run_skipped(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is None:
            return
        data = self._data(record)
        ts = record["ts"]
        reason = data.get("reason") or "skipped"
        text = data.get("message") or SKIP_REASONS.get(reason, f"skipped: {reason}")
        run = record.get("run") or f"skipped-{record['seq']}"
        summary = RunSummary(run, job.id, "skipped", data.get("trigger"), ts, ts, 0.0, None, 0, 0, 0, text)
        job.history.appendleft(summary)
        job.last_run = summary

    def _slot_missed(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is not None:
            count = self._data(record).get("count")  # one record may sum up many slots
            job.missed_slots += count if isinstance(count, int) and count > 0 else 1

    def _job_paused(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is not None:
            if not job.paused:
                by = self._data(record).get("by")
                job.paused_since, job.paused_by = record["ts"], by if isinstance(by, str) else None
            job.paused = True

    def _job_resumed(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is not None:
            job.paused = job.pause_requested = False
            job.paused_since = job.paused_by = None

    def _job_overdue(self, record: Raw) -> None:
        job = self._job_of(record)
        deadline = self._data(record).get("deadline")
        if job is not None and isinstance(deadline, str):
            job.overdue_since = deadline

    def _job_on_time(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is not None:
            job.overdue_since = None

    def _job_removed(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is not None:
            job.removed = True

    def _control_pause(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is not None:
            job.pause_requested = True

    def _control_resume(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is not None:
            job.pause_requested = False

    def _recovery_handled(self, record: Raw) -> None:
        data = self._data(record)
        job, run = data.get("job") or record.get("job"), data.get("run") or record.get("run")
        found = self.state.interruption(job, run) if isinstance(job, str) and isinstance(run, str) else None
        if found is not None:
            found.handled = data.get("action") or "dismissed"

    def _job_note(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is None:
            return
        for key, value in self._data(record).items():
            if value is None:
                job.notes.pop(key, None)
            else:
                job.notes[key] = value

    def _verify_finished(self, record: Raw) -> None:
        job = self._job_of(record)
        if job is not None:
            data = self._data(record)
            differences = data.get("differences")
            job.verify = VerifyResult(
                data.get("status") or "failed",
                record["ts"],
                differences if isinstance(differences, int) else 0,
                record.get("run"),
            )

    def _torn_tail(self, record: Raw) -> None:
        data = self._data(record)
        tails = self.state.torn_tails
        tails.append(
            TornTail(record["ts"], data.get("bytes") or 0, data.get("offset") or 0, data.get("quarantine"))
        )
        del tails[:-RECENT_TORN_TAILS]

    def _damaged(self, record: Raw) -> None:
        data = self._data(record)
        fingerprint = data.get("fingerprint")
        if isinstance(fingerprint, str):
            self.state.known_damage[fingerprint] = DamageNote(
                record["ts"], data.get("kind") or "damaged", data.get("message") or "", data.get("quarantine")
            )

    def _repaired(self, record: Raw) -> None:
        self.state.known_damage.clear()


def _default_reason(status: str, exit_code: int | None) -> str | None:
    if status == "succeeded":
        return None
    if status == "timed_out":
        return "timed out"
    if status == "interrupted":
        return "interrupted"
    if exit_code is not None:
        return f"exit {exit_code}"
    return status
