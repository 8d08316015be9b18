"""Notifications and pings from real runs: one failure and one recovery per streak, never per
attempt; a broken receiver never changes a run's status."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.runner.helpers import of_type, write_plan
from tests.trees import build

pytestmark = pytest.mark.slow


def test_three_failed_runs_then_a_success(tmp_path: Path, receiver, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(
        tmp_path,
        f"""\
  photos:
    engine: rsync
    source: src
    destination: out
    retries: {{attempts: 2, backoff: 0.2s}}
    ping: http://{receiver.url}/ping/abc
    notify: ["json://{receiver.url}/hook"]
""",
    )
    for _ in range(3):  # the source does not exist yet: each run fails
        assert run_backupplan(["run", "--plan", str(plan), "photos"]).returncode == 1
    build(tmp_path / "src", {b"a.txt": b"a"})
    assert run_backupplan(["run", "--plan", str(plan), "photos"]).returncode == 0
    received = receiver.settle()
    hooks = [item.json() for item in received if item.route == "/hook"]
    host = "test-host"  # BACKUPPLAN_HOST (tests/conftest.py): the host the plan acts as
    assert [message["title"] for message in hooks] == [
        f"backupplan: photos failed on {host}",
        f"backupplan: photos recovered on {host}",
    ]
    pings = [item.route for item in received if item.route.startswith("/ping")]
    assert pings.count("/ping/abc/start") == 4 and pings.count("/ping/abc/fail") == 3
    assert pings.count("/ping/abc") == 1
    sent = [record["data"]["event"] for record in of_type(tmp_path / ".backupplan", "notify.sent")]
    assert sent == ["failure", "recovery"]


def test_a_failing_receiver_never_changes_the_run(tmp_path: Path, receiver, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    receiver.status = 500
    build(tmp_path / "src", {b"a.txt": b"a"})
    plan = write_plan(
        tmp_path,
        f"""\
  photos:
    engine: rsync
    source: src
    destination: out
    notify: [{{url: "json://{receiver.url}/hook", on: [success]}}]
""",
    )
    started = time.monotonic()
    result = run_backupplan(["run", "--plan", str(plan), "photos"], timeout=60)
    assert result.returncode == 0
    assert time.monotonic() - started < 30
    (finished,) = of_type(tmp_path / ".backupplan", "run.finished")
    assert finished["data"]["status"] == "succeeded"
    (failed,) = of_type(tmp_path / ".backupplan", "notify.failed")
    assert failed["data"]["event"] == "success" and failed["data"]["attempts"] == 3
