"""Folding records into state: statuses, counters, history, interruptions, plan changes."""

from __future__ import annotations

from collections import deque
from typing import Any

from backupplan.journal.fold import Folder
from backupplan.journal.records import raw_record
from backupplan.journal.state import AppliedPlan, Interruption, RunSummary, State, VerifyResult


class Log:
    """Builds records with consecutive seqs and one-minute-apart timestamps, folding each."""

    def __init__(self, history_limit: int = 100) -> None:
        self.state = State(history_limit=history_limit)
        self.folder = Folder(self.state)
        self.seq = 0

    def ts(self, seq: int | None = None) -> str:
        minute = self.seq if seq is None else seq
        return f"2026-11-28T{minute // 60:02d}:{minute % 60:02d}:00.000Z"

    def add(self, type: str, job: str | None = None, run: str | None = None, **data: Any) -> None:
        self.seq += 1
        self.folder.apply(raw_record(seq=self.seq, ts=self.ts(), type=type, job=job, run=run, data=data))


def test_a_run_from_start_to_finish() -> None:
    log = Log()
    log.add("plan.applied", digest="sha256:1", path="/p/backups.yaml", jobs=["photos"], added=["photos"])
    log.add("run.started", "photos", "r1", trigger="schedule", engine="rsync", attempt=1, pid=7, pgid=7,
            start_time=99, boot_id="b", log="logs/photos/r1.log")  # fmt: skip
    job = log.state.jobs["photos"]
    assert job.status == "running"
    assert job.current == RunSummary(
        "r1", "photos", "running", "schedule", log.ts(2), attempts=1, log="logs/photos/r1.log",
        process={"trigger": "schedule", "engine": "rsync", "attempt": 1, "pid": 7, "pgid": 7,
                 "start_time": 99, "boot_id": "b", "log": "logs/photos/r1.log"},
    )  # fmt: skip
    log.add("run.attempt", "photos", "r1", attempt=1, exit_code=30, outcome="retryable", retry_in=30)
    log.add("run.attempt", "photos", "r1", attempt=2, exit_code=0, outcome="ok")
    log.add("run.finished", "photos", "r1", status="succeeded", exit_code=0, bytes=2048, files=4,
            duration=41.5, attempts=2)  # fmt: skip
    finished = RunSummary(
        "r1", "photos", "succeeded", "schedule", log.ts(2), log.ts(5), 41.5, 0, 2048, 4, 2, None,
        "logs/photos/r1.log", None,
    )  # fmt: skip
    assert job.status == "succeeded"
    assert job.current is None
    assert job.last_run == job.last_outcome == finished
    assert list(job.history) == [finished]
    assert (job.runs, job.failures, job.bytes, job.files) == (1, 0, 2048, 4)
    assert job.last_success == log.ts(5)
    assert job.first_applied == log.ts(1)
    assert job.engine == "rsync"
    assert log.state.plan == AppliedPlan(log.ts(1), "sha256:1", "/p/backups.yaml", ["photos"])
    assert (log.state.records, log.state.last_seq) == (5, 5)


def test_outcomes_map_to_job_statuses_and_counters() -> None:
    log = Log()
    outcomes = [("warning", 24), ("failed", 23), ("timed_out", None), ("succeeded", 0)]
    statuses = []
    for number, (status, code) in enumerate(outcomes):
        log.add("run.started", "docs", f"r{number}", trigger="manual")
        log.add("run.finished", "docs", f"r{number}", status=status, exit_code=code, bytes=10, files=1)
        statuses.append(log.state.jobs["docs"].status)
    job = log.state.jobs["docs"]
    assert statuses == ["warning", "failed", "failed", "succeeded"]
    assert (job.runs, job.failures, job.bytes, job.files) == (4, 2, 40, 4)
    assert [summary.reason for summary in job.history] == [None, "timed out", "exit 23", "exit 24"]
    assert job.last_success == log.ts(8)


def test_pause_resume_remove_and_controls() -> None:
    log = Log()
    log.add("plan.applied", jobs=["a", "b"])
    log.add("job.paused", "a", by="cli")
    assert log.state.jobs["a"].status == "paused"
    log.add("run.started", "a", "r1")
    assert log.state.jobs["a"].status == "running"  # running wins until the run stops
    log.add("control.pause", "a")
    assert log.state.jobs["a"].pause_requested
    log.add("run.interrupted", "a", "r1", reason="pause")
    job = log.state.jobs["a"]
    assert (job.status, job.pause_requested, job.last_run.reason) == (  # type: ignore[union-attr]
        "paused",
        False,
        "interrupted: the job was paused",
    )
    log.add("job.resumed", "a")
    assert job.status == "interrupted"
    log.add("plan.applied", jobs=["a"], removed=["b"])
    assert log.state.jobs["b"].status == "removed"
    log.add("plan.applied", jobs=["a", "b"])
    assert log.state.jobs["b"].status == "never_run"
    log.add("job.removed", "b")
    assert log.state.jobs["b"].removed


def test_a_crash_interruption_keeps_the_child_and_waits_for_recovery() -> None:
    log = Log()
    log.add("run.started", "photos", "r1", pid=7, pgid=7, start_time=99, boot_id="b", argv=["rsync"])
    log.add("run.interrupted", "photos", "r1", reason="crash", pid=7, pgid=7, start_time=99, boot_id="b")
    job = log.state.jobs["photos"]
    assert job.status == "interrupted"
    process = {"pid": 7, "pgid": 7, "start_time": 99, "boot_id": "b"}
    assert job.last_run.process == process  # type: ignore[union-attr]
    assert log.state.interruptions == [Interruption("photos", "r1", log.ts(2), "crash", "pending", process)]
    log.add("run.interrupted", "photos", "r1", reason="crash")  # a second one changes nothing
    assert job.runs == 1
    assert len(log.state.interruptions) == 1
    log.add("recovery.handled", job="photos", run="r1", action="resumed")
    assert log.state.interruptions[0].handled == "resumed"


def test_a_new_start_ends_a_run_left_open() -> None:
    log = Log()
    log.add("run.started", "photos", "r1")
    log.add("run.started", "photos", "r2")
    job = log.state.jobs["photos"]
    assert job.current.run == "r2"  # type: ignore[union-attr]
    assert job.last_run.run == "r1"  # type: ignore[union-attr]
    assert job.last_run.status == "interrupted"  # type: ignore[union-attr]


def test_skips_are_history_but_do_not_change_the_status() -> None:
    log = Log()
    log.add("run.started", "photos", "r1")
    log.add("run.finished", "photos", "r1", status="succeeded")
    log.add("run.skipped", "photos", reason="network", slot="2026-11-28T02:00:00Z")
    log.add("slot.missed", "photos", slot="2026-11-28T03:00:00Z", action="skip")
    job = log.state.jobs["photos"]
    assert job.status == "succeeded"
    assert job.last_run == RunSummary(
        "skipped-3", "photos", "skipped", None, log.ts(3), log.ts(3), 0.0, None, 0, 0, 0,
        "skipped: the network did not answer",
    )  # fmt: skip
    assert (job.runs, job.missed_slots) == (1, 1)


def test_history_is_bounded_but_counters_are_not() -> None:
    log = Log(history_limit=100)
    for number in range(250):
        log.add("run.started", "photos", f"r{number}")
        log.add("run.finished", "photos", f"r{number}", status="succeeded", bytes=1, files=1)
    job = log.state.jobs["photos"]
    assert isinstance(job.history, deque)
    assert [summary.run for summary in job.history] == [f"r{number}" for number in range(249, 149, -1)]
    assert (job.runs, job.bytes, job.files) == (250, 250, 250)


def test_verify_unknown_types_and_missing_data_are_harmless() -> None:
    log = Log()
    log.add("verify.finished", "photos", "r1", status="failed", differences=3)
    log.add("snapshot.created", "photos", "r1", path="/x")
    log.add("something.new.in.format.1", "photos", anything=[1, 2])
    log.add("run.finished", "photos", "lost-start", status="failed", exit_code=12)
    log.add("run.attempt", "nobody", "r9")
    log.add("recovery.handled")
    job = log.state.jobs["photos"]
    assert job.verify == VerifyResult("failed", log.ts(1), 3, "r1")
    assert job.status == "failed"
    assert job.last_run.reason == "exit 12"  # type: ignore[union-attr]
    assert log.state.records == 6


def test_recent_runs_across_jobs_newest_first() -> None:
    log = Log()
    for number in range(12):
        job = "ab"[number % 2]
        log.add("run.started", job, f"r{number}")
        log.add("run.finished", job, f"r{number}", status="succeeded")
    log.add("run.started", "c", "live")
    recent = log.state.recent_runs(5)
    assert [summary.run for summary in recent] == ["live", "r11", "r10", "r9", "r8"]


def test_job_notes_merge_and_survive_compaction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from backupplan.journal import Journal

    with Journal.open(tmp_path / "state") as journal:
        journal.append("job.note", job="photos", data={"notify": {"failed_runs": 2}, "other": 1})
        journal.append("job.note", job="photos", data={"other": None})
        assert journal.state.jobs["photos"].notes == {"notify": {"failed_runs": 2}}
        journal.compact()
    with Journal.open(tmp_path / "state") as reopened:
        assert reopened.state.jobs["photos"].notes == {"notify": {"failed_runs": 2}}
