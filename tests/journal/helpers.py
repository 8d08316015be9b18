"""Shared by the journal, status and command tests: a settable clock, record builders and a way to
run a Python snippet that uses this checkout in a real child process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from backupplan.journal import Journal

REPO = Path(__file__).resolve().parents[2]
FROZEN = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


class Clock:
    """A clock for Journal.open(clock=...): frozen until told to move."""

    def __init__(self, now: datetime = FROZEN) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def run_once(
    journal: Journal,
    job: str,
    run: str,
    clock: Clock,
    *,
    status: str = "succeeded",
    seconds: float = 41.0,
    size: int = 1000,
    files: int = 3,
    exit_code: int = 0,
    trigger: str = "schedule",
) -> None:
    """Append the records of one whole run: started, attempt, finished."""
    journal.append(
        "run.started",
        job=job,
        run=run,
        data={
            "trigger": trigger,
            "engine": "rsync",
            "attempt": 1,
            "pid": 4242,
            "log": f"logs/{job}/{run}.log",
        },
    )
    clock.advance(seconds)
    journal.append(
        "run.attempt",
        job=job,
        run=run,
        data={"attempt": 1, "exit_code": exit_code, "outcome": "ok" if exit_code == 0 else "fatal"},
    )
    journal.append(
        "run.finished",
        job=job,
        run=run,
        data={
            "status": status,
            "exit_code": exit_code,
            "bytes": size,
            "files": files,
            "duration": seconds,
            "attempts": 1,
        },
    )


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def python(code: str, *args: str, **options: Any) -> subprocess.Popen[str]:
    """Start `python -c code args…` importing this checkout; stdout and stderr are pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


@contextmanager
def started(code: str, *args: str, ready: str = "ready") -> Iterator[subprocess.Popen[str]]:
    """Run a child until it prints `ready`; kill it (by pid) when the block ends."""
    child = python(code, *args)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == ready, f"child said {line!r}; stderr: {child.stderr.read() if child.stderr else ''}"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


def lines(state_dir: Path) -> list[bytes]:
    return (state_dir / "journal.jsonl").read_bytes().splitlines(keepends=True)


def fast_folder(tmp_path: Path) -> Path:
    """A folder on tmpfs when there is one (fsync is free there), else under tmp_path: for tests
    about ordering and parsing, not durability."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        import tempfile

        return Path(tempfile.mkdtemp(dir=shm, prefix="backupplan-test-"))
    return tmp_path / "fast"
