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


DEMO_PLAN = """\
version: 1
settings:
  timezone: UTC
  overdue_grace: 1h
jobs:
  photos:
    description: Family photos to the NAS
    engine: rsync
    source: {root}/src
    destination: {root}/photos
    schedule: "0 2 * * *"
  docs:
    engine: rclone
    source: {root}/src
    destination: "remote:docs"
    schedule: every 6h
  music:
    engine: rsync
    source: {root}/src
    destination: {root}/music
  archive:
    engine: rsync
    source: {root}/src
    destination: {root}/archive
    schedule: "@daily"
    enabled: false
  newcomer:
    engine: rsync
    source: {root}/src
    destination: {root}/newcomer
    schedule: "0 3 * * *"
"""


def demo(root: Path) -> tuple[Path, Path]:
    """A plan and a journal with one job in every state; return (plan path, state dir).

    At FROZEN (2026-11-28 12:00 UTC): photos succeeded at 02:00 and is on time; docs (every 6h)
    last succeeded 2 days ago, then failed, and is running now with a progress file; music was
    interrupted by a crash; archive is disabled; newcomer was never run; old is in the journal
    only (removed from the plan).
    """
    (root / "src").mkdir(parents=True, exist_ok=True)
    plan = root / "backups.yaml"
    plan.write_text(DEMO_PLAN.format(root=root))
    state_dir = root / ".backupplan"
    clock = Clock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    with Journal.open(state_dir, clock=clock) as journal:
        jobs = ["photos", "docs", "music", "archive", "newcomer", "old"]
        journal.append("plan.applied", data={"digest": "sha256:old", "path": str(plan), "jobs": jobs})
        clock.now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
        run_once(journal, "old", "20261126T100000Z-0001", clock, size=5000, files=50, trigger="manual")
        run_once(journal, "docs", "20261126T110000Z-0002", clock, size=7000, files=7)
        clock.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        journal.append(
            "plan.applied",
            data={"digest": "sha256:new", "path": str(plan), "jobs": jobs[:5], "removed": ["old"]},
        )
        clock.now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
        run_once(journal, "photos", "20261128T020000Z-3f9a", clock, size=1048576, files=12)
        clock.now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
        run_once(
            journal, "docs", "20261128T060000Z-0003", clock, status="failed", exit_code=7, size=0, files=0
        )
        journal.append("verify.finished", job="photos", run="20261128T020000Z-3f9a",
                       data={"status": "ok", "differences": 0})  # fmt: skip
        clock.now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
        journal.append("run.started", job="music", run="20261128T090000Z-0004",
                       data={"trigger": "manual", "engine": "rsync", "pid": 4343})  # fmt: skip
    clock.now = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    with Journal.open(state_dir, clock=clock) as journal:  # finds music's run without an owner
        clock.now = datetime(2026, 11, 28, 11, 58, tzinfo=UTC)
        journal.append("run.started", job="docs", run="20261128T115800Z-0005",
                       data={"trigger": "schedule", "engine": "rclone", "pid": os.getpid(),
                             "log": "logs/docs/20261128T115800Z-0005.log"})  # fmt: skip
    progress = state_dir / "progress"
    progress.mkdir(mode=0o700)
    (progress / "docs.json").write_text(
        '{"run": "20261128T115800Z-0005", "attempt": 1, "percent": 42.5, "bytes": 1048576,'
        ' "total_bytes": 2097152, "rate": 5242880.0, "eta": 12.0, "files": 3,'
        ' "updated_at": "2026-11-28T11:59:59Z"}'
    )
    return plan, state_dir
