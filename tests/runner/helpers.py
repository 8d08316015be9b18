"""Plans and journal readers for the runner's tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import backupplan_env


def write_plan(folder: Path, jobs: str, settings: str = "") -> Path:
    """Write `backups.yaml` in `folder` with the given (indented) job and settings blocks."""
    plan = folder / "backups.yaml"
    text = "version: 1\nsettings:\n  timezone: UTC\n  retries: {attempts: 1}\n" + settings + "jobs:\n" + jobs
    plan.write_text(text)
    return plan


def records(state_dir: Path) -> list[dict[str, Any]]:
    """Every journal record, decoded (the checksum is left to the journal's own tests)."""
    path = state_dir / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def of_type(state_dir: Path, kind: str, job: str | None = None) -> list[dict[str, Any]]:
    """The records of one type (none while the journal does not exist yet)."""
    return [
        record
        for record in _safe_records(state_dir)
        if record["type"] == kind and (job is None or record["job"] == job)
    ]


def start_run(plan: Path, *jobs: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `backupplan run` as a background process (its own session, like a real terminal's)."""
    return subprocess.Popen(
        [sys.executable, "-m", "backupplan", "run", "--plan", str(plan), *jobs],
        env=backupplan_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def child_started(state_dir: Path, job: str) -> dict[str, Any] | None:
    found = [
        record
        for record in _safe_records(state_dir)
        if record["type"] == "run.child" and record["job"] == job
    ]
    return found[-1] if found else None


def _safe_records(state_dir: Path) -> list[dict[str, Any]]:
    try:
        return records(state_dir)
    except FileNotFoundError:
        return []


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] != "Z"


def kill_group(process: subprocess.Popen[str], number: int = signal.SIGKILL) -> None:
    os.killpg(process.pid, number) if number != signal.SIGKILL else process.kill()
