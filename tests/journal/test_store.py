"""The Journal API: private files, appends, reading what others wrote, compaction, read-only use."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from backupplan.errors import StateError
from backupplan.journal import JobLock, Journal, Record, UnwritableError
from backupplan.journal.records import decode_line
from backupplan.secrets import registry
from tests.journal.helpers import Clock, lines, python, run_once


def test_state_dir_is_private_whatever_the_umask(tmp_path: Path, clock: Clock) -> None:
    old = os.umask(0o022)
    try:
        state_dir = tmp_path / "deep" / "state"
        with Journal.open(state_dir, clock=clock) as journal:
            journal.append("job.paused", job="a")
        with JobLock(state_dir, "a"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "locks").stat().st_mode) == 0o700
    for name in ("journal.jsonl", "journal.lock", "locks/a.lock"):
        assert stat.S_IMODE((state_dir / name).stat().st_mode) == 0o600, name


def test_loose_modes_left_by_someone_else_are_tightened(state_dir: Path, clock: Clock) -> None:
    state_dir.mkdir(mode=0o755)
    os.chmod(state_dir, 0o755)
    (state_dir / "journal.jsonl").write_bytes(b"")
    os.chmod(state_dir / "journal.jsonl", 0o644)
    Journal.open(state_dir, clock=clock).close()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "journal.jsonl").stat().st_mode) == 0o600


def test_append_writes_one_masked_line_and_returns_the_record(state_dir: Path, clock: Clock) -> None:
    registry.add("s3cret-value", "NAS_PASSWORD")
    with Journal.open(state_dir, clock=clock) as journal:
        record = journal.append(
            "run.started", job="photos", run="r1", data={"argv": ["rsync", "--password=s3cret-value"]}
        )
    assert record == Record(
        1,
        "2026-11-28T12:00:00.000Z",
        "run.started",
        "photos",
        "r1",
        {"argv": ["rsync", "--password=${NAS_PASSWORD}"]},
    )
    (line,) = lines(state_dir)
    assert b"s3cret" not in line
    assert decode_line(line[:-1]) is not None


def test_data_that_is_not_json_is_refused_and_nothing_written(state_dir: Path, clock: Clock) -> None:
    with Journal.open(state_dir, clock=clock) as journal:
        with pytest.raises(ValueError, match="not JSON"):
            journal.append("run.started", job="a", data={"when": object()})
        assert journal.append("job.paused", job="a").seq == 1


def test_two_handles_continue_one_sequence(state_dir: Path, clock: Clock) -> None:
    first = Journal.open(state_dir, clock=clock)
    second = Journal.open(state_dir, clock=clock)
    first.append("job.paused", job="a")
    assert second.append("job.resumed", job="a").seq == 2
    assert [record.type for record in first.refresh()] == ["job.resumed"]
    assert first.refresh() == []
    assert not first.state.jobs["a"].paused
    first.close()
    second.close()


def test_records_seen_while_appending_are_still_returned_by_refresh(state_dir: Path, clock: Clock) -> None:
    first = Journal.open(state_dir, clock=clock)
    second = Journal.open(state_dir, clock=clock)
    second.append("control.pause", job="a")
    first.append("run.started", job="a", run="r1")
    assert [record.type for record in first.refresh()] == ["control.pause"]
    first.close()
    second.close()


@pytest.mark.slow
def test_a_pause_from_another_process_is_noticed_within_two_seconds(state_dir: Path, clock: Clock) -> None:
    journal = Journal.open(state_dir, clock=clock)
    journal.append("run.started", job="photos", run="r1")
    child = python(
        "import sys, time; from pathlib import Path; from backupplan.journal import Journal\n"
        "time.sleep(0.3); j = Journal.open(Path(sys.argv[1])); j.append('control.pause', job='photos')\n"
        "print(time.time(), flush=True)",
        str(state_dir),
    )
    try:
        assert journal.wait_for(lambda state: state.jobs["photos"].pause_requested, timeout=10, interval=0.5)
        noticed = time.time()
        out, err = child.communicate(timeout=10)
        assert child.returncode == 0, err
        assert noticed - float(out) < 2.0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        journal.close()


def test_watch_yields_batches_until_stopped(state_dir: Path, clock: Clock) -> None:
    watcher = Journal.open(state_dir, clock=clock)
    writer = Journal.open(state_dir, clock=clock)
    stop = threading.Event()
    seen: list[str] = []

    def write() -> None:
        for job in ("a", "b", "c"):
            writer.append("control.pause", job=job)
            time.sleep(0.05)

    thread = threading.Thread(target=write)
    thread.start()
    for batch in watcher.watch(interval=0.02, stop=stop):
        seen.extend(record.job or "" for record in batch)
        if len(seen) == 3:
            stop.set()
    thread.join()
    assert seen == ["a", "b", "c"]
    watcher.close()
    writer.close()


def test_automatic_compaction_and_a_reader_that_follows_it(state_dir: Path, clock: Clock) -> None:
    reader = Journal.open(state_dir, clock=clock, compact_after=None)
    writer = Journal.open(state_dir, clock=clock, compact_after=40)
    for number in range(20):
        run_once(writer, "a", f"r{number}", clock)
    assert len(lines(state_dir)) == 21  # a checkpoint of 40 records, then 20 records
    assert [record.seq for record in reader.refresh()][-1] == 60
    assert reader.state.jobs["a"].runs == 20
    writer.append("job.paused", job="a")
    assert [record.type for record in reader.refresh()] == ["job.paused"]
    reader.append("job.resumed", job="a")
    assert [record.seq for record in writer.refresh()] == [62]
    reader.close()
    writer.close()
    with Journal.open(state_dir, clock=clock) as again:
        assert (again.state.records, again.state.last_seq, again.state.jobs["a"].runs) == (62, 62, 20)


def test_a_reader_two_compactions_behind_reloads_the_state(state_dir: Path, clock: Clock) -> None:
    reader = Journal.open(state_dir, clock=clock, compact_after=None)
    writer = Journal.open(state_dir, clock=clock, compact_after=15)
    for number in range(20):
        run_once(writer, "a", f"r{number}", clock)
    reader.refresh()
    assert (reader.state.records, reader.state.jobs["a"].runs) == (60, 20)
    reader.append("job.paused", job="a")
    assert writer.refresh()[0].seq == 61
    reader.close()
    writer.close()


def test_an_open_run_whose_lock_is_free_is_interrupted_once(state_dir: Path, clock: Clock) -> None:
    with Journal.open(state_dir, clock=clock) as journal:
        journal.append("run.started", job="a", run="r1", data={"pid": 12, "pgid": 12, "boot_id": "x"})
    with Journal.open(state_dir, clock=clock) as journal:
        summary = journal.state.jobs["a"].last_run
        assert summary is not None and summary.status == "interrupted"
        assert summary.process == {"pid": 12, "pgid": 12, "boot_id": "x"}
    Journal.open(state_dir, clock=clock).close()
    interrupted = [line for line in lines(state_dir) if b"run.interrupted" in line]
    assert len(interrupted) == 1
    assert b'"reason":"crash","pid":12,"pgid":12,"boot_id":"x","detected_by":' in interrupted[0]


def test_a_caller_holding_the_job_lock_closes_a_stale_run(state_dir: Path, clock: Clock) -> None:
    with Journal.open(state_dir, clock=clock) as journal:
        journal.append("run.started", job="a", run="old")
    with JobLock(state_dir, "a"), Journal.open(state_dir, clock=clock) as journal:
        assert journal.state.jobs["a"].status == "running"  # the lock is busy: maybe it is alive
        (record,) = journal.recover_interrupted(holding={"a"})
        assert (record.type, record.run) == ("run.interrupted", "old")


def test_read_only_never_writes(state_dir: Path, clock: Clock) -> None:
    with Journal.open(state_dir, clock=clock) as journal:
        journal.append("run.started", job="a", run="r1")
    path = state_dir / "journal.jsonl"
    with open(path, "ab") as handle:
        handle.write(b'{"v":1,"seq":2')
    before = path.read_bytes()
    with Journal.open(state_dir, clock=clock, read_only=True) as journal:
        assert journal.state.jobs["a"].status == "interrupted"  # concluded, not recorded
        (problem,) = journal.health.problems
        assert problem.kind == "torn_tail"
        assert "next backupplan that can write" in problem.message
        with pytest.raises(StateError, match="read-only"):
            journal.append("job.paused", job="a")
    assert path.read_bytes() == before


def test_read_only_on_a_missing_state_dir_is_empty(tmp_path: Path, clock: Clock) -> None:
    with Journal.open(tmp_path / "nothing", read_only=True, clock=clock) as journal:
        assert journal.state.jobs == {}
    assert not (tmp_path / "nothing").exists()


def test_a_failed_fsync_is_fatal_and_leaves_no_partial_record(
    state_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(state_dir, clock=clock)
    journal.append("job.paused", job="a")
    before = (state_dir / "journal.jsonl").read_bytes()

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", failing)
        with pytest.raises(StateError, match="fsync failed"):
            journal.append("job.resumed", job="a")
    assert (state_dir / "journal.jsonl").read_bytes() == before
    with pytest.raises(StateError, match="fsync failed"):
        journal.append("job.resumed", job="a")  # this handle is done for
    journal.close()
    with Journal.open(state_dir, clock=clock) as again:
        assert again.append("job.resumed", job="a").seq == 2


def test_open_or_read_only_lists_unwritable(tmp_path: Path, clock: Clock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UnwritableError, match=str(blocker / "state")):
        Journal.open(blocker / "state", clock=clock)
    with Journal.open_or_read_only(blocker / "state", clock=clock) as journal:
        (problem,) = journal.health.problems
        assert problem.kind == "unwritable"
        assert str(blocker / "state") in problem.message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the folder away")
def test_a_shared_state_dir_owned_by_someone_else_is_refused(state_dir: Path, clock: Clock) -> None:
    state_dir.mkdir()
    os.chmod(state_dir, 0o777)
    os.chown(state_dir, 65534, 65534)
    with pytest.raises(StateError, match="can be written by other users"):
        Journal.open(state_dir, clock=clock)
