"""Follower: new lines of running runs as they are written, and the end of a run.

The test plays the runner: it holds the job's lock, journals `run.started`, appends to the log file
and journals `run.finished`, exactly in the runner's order (log closed before the end record).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backupplan.journal import JobLock, Journal
from backupplan.logs.follow import OWNER_CHECK_INTERVAL, Follower, whole_lines_end
from backupplan.logs.view import read_recent_log_lines


class Runner:
    """Writes a run's records and log lines the way backupplan's runner does."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.journal = Journal.open(state_dir)
        self.locks: dict[str, JobLock] = {}

    def start(self, job: str, run: str, *lines: str) -> Path:
        self.locks[job] = JobLock(self.state_dir, job).acquire()
        path = self.log(job, run)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        self.write(job, run, *lines)
        self.journal.append("run.started", job=job, run=run, data={"log": f"logs/{job}/{run}.log"})
        return path

    def log(self, job: str, run: str) -> Path:
        return self.state_dir / "logs" / job / f"{run}.log"

    def write(self, job: str, run: str, *lines: str, end: str = "\n") -> None:
        with self.log(job, run).open("a") as handle:
            handle.write("".join(f"2026-11-28T02:00:00Z [rsync] {line}{end}" for line in lines))

    def finish(self, job: str, run: str, *lines: str) -> None:
        self.write(job, run, *lines)
        self.journal.append("run.finished", job=job, run=run, data={"status": "succeeded"})
        self.locks.pop(job).release()

    def die(self, job: str) -> None:
        self.locks.pop(job).release()  # the kernel drops a dead process's flock

    def close(self) -> None:
        for lock in self.locks.values():
            lock.release()
        self.journal.close()


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    runner = Runner(tmp_path / "state")
    yield runner
    runner.close()


@pytest.fixture
def reader(runner: Runner) -> Iterator[Journal]:
    with Journal.open(runner.state_dir, read_only=True) as journal:
        yield journal


def texts(lines: list) -> list[str]:  # type: ignore[type-arg]
    return [line.text for line in lines]


def test_a_running_run_is_followed_from_where_the_backlog_stops(runner: Runner, reader: Journal) -> None:
    path = runner.start("photos", "r1", "one", "two")
    follower = Follower(reader, job="photos")
    ends = follower.start([path])
    assert ends == {str(path): path.stat().st_size}
    runner.write("photos", "r1", "three")  # written after the backlog's end: the follower's line
    backlog = read_recent_log_lines(runner.state_dir / "logs", None, ends=ends)
    assert texts(backlog) == ["one", "two"]
    assert follower.following == [("photos", "r1")]
    assert texts(follower.poll()) == ["three"]
    assert follower.poll() == []
    runner.write("photos", "r1", "half", end="")  # a line being written: not shown until whole
    assert follower.poll() == []
    with path.open("a") as handle:
        handle.write(" done\n")
    assert texts(follower.poll()) == ["half done"]
    assert not follower.finished
    runner.finish("photos", "r1", "last words")
    assert texts(follower.poll()) == ["last words"]
    assert follower.finished
    assert follower.poll() == []


def test_a_job_that_is_not_running_is_followed_from_its_next_run(runner: Runner, reader: Journal) -> None:
    follower = Follower(reader, job="photos")
    assert follower.start([]) == {}
    assert follower.following == [] and not follower.finished
    assert follower.poll() == []
    runner.start("mail", "m1", "other job")  # not the followed job
    runner.start("photos", "r2", "early")
    assert texts(follower.poll()) == ["early"]  # a new run is read from its first line
    runner.finish("photos", "r2", "end")
    assert texts(follower.poll()) == ["end"]
    assert follower.finished


def test_a_run_that_starts_and_ends_between_two_looks_is_shown_whole(runner: Runner, reader: Journal) -> None:
    follower = Follower(reader, job="photos")
    follower.start([])
    runner.start("photos", "quick", "a", "b")
    runner.finish("photos", "quick", "c")
    assert texts(follower.poll()) == ["a", "b", "c"]
    assert follower.finished


def test_a_run_whose_process_died_stops_being_followed(runner: Runner, reader: Journal) -> None:
    now = [100.0]
    path = runner.start("photos", "r3", "before the crash")
    follower = Follower(reader, job="photos", clock=lambda: now[0])
    follower.start([path])
    runner.write("photos", "r3", "last line")
    runner.die("photos")
    assert texts(follower.poll()) == ["last line"]  # the owner was checked just now: not again yet
    assert not follower.finished
    now[0] += OWNER_CHECK_INTERVAL
    assert follower.poll() == []
    assert follower.finished
    assert follower.take_notes() == [
        "photos: the process running r3 is gone (it crashed or was killed); "
        "the next backupplan command records the run as interrupted"
    ]
    assert follower.take_notes() == []


def test_every_job_is_followed_until_stopped(runner: Runner, reader: Journal) -> None:
    old = runner.start("photos", "r0", "old")
    runner.finish("photos", "r0")
    follower = Follower(reader)
    follower.start([old])
    runner.start("photos", "r1", "p")
    runner.start("mail", "m1", "m")
    assert sorted(texts(follower.poll())) == ["m", "p"]
    runner.finish("photos", "r1", "p end")
    runner.finish("mail", "m1", "m end")
    assert sorted(texts(follower.poll())) == ["m end", "p end"]
    assert not follower.finished
    assert follower.following == []
    runner.start("photos", "r2", "again")
    assert texts(follower.poll()) == ["again"]


def test_one_run_that_already_ended_is_finished_at_once(runner: Runner, reader: Journal) -> None:
    path = runner.start("photos", "r1", "x")
    runner.finish("photos", "r1")
    follower = Follower(reader, run="r1")
    assert follower.start([path]) == {}
    assert follower.finished


def test_keep_filters_followed_lines(runner: Runner, reader: Journal) -> None:
    path = runner.start("photos", "r1")
    follower = Follower(reader, job="photos", keep=lambda line: "error" in line.text)
    follower.start([path])
    runner.write("photos", "r1", "fine", "an error", "fine again")
    assert texts(follower.poll()) == ["an error"]


def test_whole_lines_end(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    assert whole_lines_end(path) == 0
    path.write_bytes(b"one\ntwo\nthr")
    assert whole_lines_end(path) == 8
    path.write_bytes(b"no newline")
    assert whole_lines_end(path) == 0
