"""A real daemon killed with SIGKILL: its last status.json stays behind, and `backupplan check
--status` judges it by the reader's clock, moved forward with faketime (Debian's libfaketime):
OK at once, CRITICAL once the daemon's promise (three heartbeats) has passed, and the job overdue
once its deadline has."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import backupplan_env
from tests.runner.helpers import of_type, wait_for, write_plan
from tests.trees import build

pytestmark = pytest.mark.slow


def check_at(status: Path, offset: str) -> subprocess.CompletedProcess[str]:
    """`backupplan check --status FILE` run with its clock moved by `offset` (`+10m`)."""
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.fail("faketime is missing: scripts/bootstrap.sh --test installs Debian's faketime")
    return subprocess.run(
        [faketime, "-f", offset, sys.executable, "-m", "backupplan", "check", "--status", str(status)],
        env=backupplan_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_daemon_killed_9_goes_from_ok_to_critical(tmp_path: Path) -> None:
    build(tmp_path / "src", {b"a.txt": b"alpha\n"})
    plan = write_plan(
        tmp_path,
        "  photos:\n    engine: rsync\n    source: src\n    destination: dst\n    schedule: every 1h\n",
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "backupplan", "daemon", "--plan", str(plan)],
        env=backupplan_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    status = tmp_path / "site" / "status.json"
    try:
        wait_for(lambda: of_type(tmp_path / ".backupplan", "run.finished"), timeout=30)
        wait_for(
            lambda: status.exists() and json.loads(status.read_text())["freshness"]["kept_by"] == "daemon"
        )
        time.sleep(0.5)  # the site written after the run's end
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    document = json.loads(status.read_text())
    assert document["jobs"][0]["status"] == "succeeded"

    now = check_at(status, "+0")
    assert now.returncode == 0, now.stdout + now.stderr
    assert now.stdout.startswith("BACKUPPLAN OK - ")

    later = check_at(status, "+10m")  # three missed heartbeats, and more
    assert later.returncode == 2, later.stdout
    assert later.stdout.startswith("BACKUPPLAN CRITICAL - ")
    assert "no update since" in later.stdout and "test-host" in later.stdout

    much_later = check_at(status, "+1d")  # and the hourly job's deadline has passed too
    assert much_later.returncode == 2
    assert "photos" in much_later.stdout and "overdue" in much_later.stdout
