"""Checkpoints: a compacted journal folds to the same state, and histories unpack lazily."""

from __future__ import annotations

from pathlib import Path

from backupplan.journal import JobLock, Journal
from backupplan.journal.checkpoint import dump
from tests.journal.helpers import Clock, lines, run_once


def busy_journal(state_dir: Path, clock: Clock, runs: int = 30) -> Journal:
    journal = Journal.open(state_dir, clock=clock, compact_after=None)
    journal.append("plan.applied", data={"digest": "sha256:1", "path": "/p", "jobs": ["a", "b", "gone"]})
    for number in range(runs):
        run_once(
            journal,
            "ab"[number % 2],
            f"r{number}",
            clock,
            status=("failed" if number % 7 == 0 else "succeeded"),
        )
    journal.append("run.skipped", job="a", data={"reason": "overlap"})
    journal.append("verify.finished", job="b", run="r29", data={"status": "ok", "differences": 0})
    journal.append("run.started", job="gone", run="g1", data={"pid": 1})
    journal.append("run.interrupted", job="gone", run="g1", data={"reason": "crash", "pid": 1})
    journal.append("job.paused", job="b")
    journal.append("run.started", job="a", run="open", data={"pid": 2, "argv": ["rsync", "-a"]})
    return journal


def test_compaction_keeps_the_state_exactly(state_dir: Path, clock: Clock) -> None:
    journal = busy_journal(state_dir, clock)
    before = dump(journal.state)
    last_seq = journal.state.last_seq
    journal.compact()
    assert len(lines(state_dir)) == 1
    assert dump(journal.state) == before
    journal.close()
    with JobLock(state_dir, "a"), Journal.open(state_dir, clock=clock) as reopened:
        assert reopened.state.last_seq == last_seq
        assert dump(reopened.state) == before
        assert reopened.state.jobs["a"].current is not None  # its lock is held: it may be alive
    with Journal.open(state_dir, clock=clock):
        pass  # now its lock is free: it is recorded as interrupted, after the checkpoint
    assert b'"type":"run.interrupted"' in lines(state_dir)[-1]


def test_history_is_unpacked_only_when_read(state_dir: Path, clock: Clock) -> None:
    busy_journal(state_dir, clock).compact()
    with Journal.open(state_dir, clock=clock, compact_after=None) as journal:
        job = journal.state.jobs["b"]
        assert job.packed_history is not None
        last = job.last_run
        assert last is not None and last.run == "r29"
        history = job.history
        assert job.packed_history is None
        assert history[0] is last  # the same object as the stored last run
        assert [summary.run for summary in history][:3] == ["r29", "r27", "r25"]


def test_keep_runs_bounds_history_but_at_least_100(state_dir: Path, clock: Clock) -> None:
    journal = busy_journal(state_dir, clock, runs=250)
    assert len(journal.state.jobs["a"].history) == 100
    journal.close()
    with Journal.open(state_dir, clock=clock, keep_runs=200) as wider:
        assert len(wider.state.jobs["a"].history) == 127  # 125 runs, a skip and the interrupted one
        assert wider.state.jobs["a"].runs == 126
