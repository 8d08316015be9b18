"""Locks: busy says who and since when, a dead holder frees the lock, children never inherit it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backupplan.errors import JobBusyError
from backupplan.journal import DAEMON_LOCK, JobLock, LockHolder, StateLock, lock_holder
from tests.journal.helpers import started

HOLD = (
    "import sys, time; from pathlib import Path; from backupplan.journal import JobLock\n"
    "lock = JobLock(Path(sys.argv[1]), sys.argv[2]).acquire()\n"
    "print('ready', flush=True); time.sleep(60)"
)


def test_lock_holder_names_the_process_and_the_time(state_dir: Path) -> None:
    assert lock_holder(state_dir, "photos") is None
    with JobLock(state_dir, "photos") as lock:
        holder = lock_holder(state_dir, "photos")
        assert holder == LockHolder(os.getpid(), lock.since)  # type: ignore[arg-type]
        _, since = holder  # type: ignore[misc]
        assert abs((datetime.now(UTC) - since).total_seconds()) < 5
    assert lock_holder(state_dir, "photos") is None
    assert (state_dir / "locks" / "photos.lock").read_bytes() == b""


@pytest.mark.slow
def test_busy_lock_says_who_holds_it_and_a_killed_holder_frees_it(state_dir: Path) -> None:
    with started(HOLD, str(state_dir), "photos") as child:
        with pytest.raises(JobBusyError) as busy:
            JobLock(state_dir, "photos").acquire()
        message = str(busy.value)
        assert re.fullmatch(
            rf"photos is already running \(pid {child.pid}, since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)",
            message,
        ), message
        holder = lock_holder(state_dir, "photos")
        assert holder is not None and holder.pid == child.pid
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        with JobLock(state_dir, "photos"):
            pass  # the kernel dropped the dead holder's lock


def test_one_process_cannot_take_a_job_lock_twice(state_dir: Path) -> None:
    with JobLock(state_dir, "photos"), pytest.raises(JobBusyError, match=f"pid {os.getpid()}"):
        JobLock(state_dir, "photos").acquire()


def test_a_child_does_not_inherit_the_lock(state_dir: Path) -> None:
    lock = JobLock(state_dir, "photos").acquire()
    child = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        lock.release()
        assert lock_holder(state_dir, "photos") is None  # the child holds nothing
    finally:
        child.kill()
        child.wait()


def test_the_daemon_lock_never_collides_with_a_job_called_daemon(state_dir: Path) -> None:
    with StateLock(state_dir, DAEMON_LOCK) as daemon, JobLock(state_dir, "daemon") as job:
        assert daemon.path != job.path
        with pytest.raises(JobBusyError, match="_daemon is locked by pid"):
            StateLock(state_dir, DAEMON_LOCK).acquire()


@pytest.mark.parametrize("name", ["../x", "a/b", "", "UPPER", "-x"])
def test_names_that_are_not_ids_are_refused(state_dir: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a valid lock name"):
        JobLock(state_dir, name)
