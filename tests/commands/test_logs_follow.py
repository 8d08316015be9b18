"""`backupplan logs --follow` against a real running rsync job, in real processes."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import backupplan_env
from tests.runner.helpers import of_type, start_run, wait_for, write_plan

FILES = 12  # 12 x 256 KiB at 1 MiB/s: the run lasts about 3 s; --verbose logs each file as it starts
JOB = """\
  photos:
    engine: rsync
    source: src
    destination: out
    bandwidth: 1MiB
    extra_args: ["--verbose"]
"""


class Reader:
    """Reads a process's stdout lines in a thread, noting when each one arrived."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def join(self) -> None:
        self._thread.join(timeout=10)


def follow(plan: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "backupplan", "logs", *args, "--follow", "--plan", str(plan)],
        env=backupplan_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def stopped_at_the_end(*processes: subprocess.Popen[str]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for number in range(FILES):
        (source / f"f{number:02d}.bin").write_bytes(bytes([number]) * 256 * 1024)
    (tmp_path / "out").mkdir()
    return write_plan(tmp_path, JOB)


@pytest.mark.slow
def test_follow_shows_lines_while_a_real_rsync_run_writes_them_and_stops_at_its_end(plan: Path) -> None:
    state = plan.parent / ".backupplan"
    runner = start_run(plan, "photos")
    follower: subprocess.Popen[str] | None = None
    with stopped_at_the_end(runner):
        wait_for(lambda: of_type(state, "run.child", "photos"))  # rsync is copying
        follower = follow(plan, "photos")
        with stopped_at_the_end(follower):
            reader = Reader(follower)
            wait_for(lambda: of_type(state, "run.finished", "photos"), timeout=30, interval=0.02)
            finished_at = time.monotonic()
            assert follower.wait(timeout=5) == 0  # it stops by itself once the run ended
            reader.join()
            assert runner.wait(timeout=10) == 0
    before_the_end = [line for at, line in reader.lines if at < finished_at - 0.3]
    # each file as rsync itemizes it (`>f+++++++++ f0003.bin`), before the run's end
    assert any(line.endswith(".bin") and " [rsync] >f" in line for line in before_the_end), reader.lines
    shown = [line for _, line in reader.lines]
    (log,) = (state / "logs" / "photos").glob("*.log")
    run = log.name.removesuffix(".log")
    assert shown == [f"photos {run} | {line}" for line in log.read_text().splitlines()]  # each line once
    assert shown[-1].endswith(f"[backupplan] run succeeded after {shown[-1].split('after ')[1]}")


@pytest.mark.slow
def test_following_every_job_picks_up_new_runs_until_ctrl_c(plan: Path) -> None:
    state = plan.parent / ".backupplan"
    follower = follow(plan)
    with stopped_at_the_end(follower):
        reader = Reader(follower)
        time.sleep(1.0)  # the follower is up and waiting (nothing has run yet)
        assert follower.poll() is None
        runner = start_run(plan, "photos")
        with stopped_at_the_end(runner):
            assert runner.wait(timeout=30) == 0
        wait_for(lambda: any("run succeeded" in line for _, line in reader.lines), timeout=5)
        assert follower.poll() is None  # still following: no job was named
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=5) == 0
        reader.join()
        assert follower.stderr is not None and "interrupted" not in follower.stderr.read()
    (log,) = (state / "logs" / "photos").glob("*.log")
    run = log.name.removesuffix(".log")
    assert [line for _, line in reader.lines] == [
        f"photos {run} | {line}" for line in log.read_text().splitlines()
    ]
