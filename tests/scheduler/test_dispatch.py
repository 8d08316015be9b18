"""The dispatcher: claims, overlaps (here and in another process), paused jobs, retry notes."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from backupplan.commands.run import finish, make_session, open_journal
from backupplan.journal import JobLock
from backupplan.plan.load import load_plan
from backupplan.plan.model import Retries
from backupplan.scheduler.clock import SystemClock
from backupplan.scheduler.dispatch import RETRY_CAP, Dispatcher, Outcome, retry_delay
from backupplan.scheduler.reconcile import Launch
from tests.scheduler.conftest import utc
from tests.trees import build

PLAN = """\
version: 1
settings:
  timezone: UTC
  retries: {attempts: 1, backoff: 1s, max_backoff: 10m}
jobs:
  photos:
    engine: rsync
    source: SOURCE
    destination: dst/photos
    schedule: "0 2 * * *"
    hooks: {before: [[sleep, '0.3']]}
"""


def run_launches(root: Path, *launches: Launch, hold: str | None = None) -> tuple[list[Outcome], list[str]]:
    """Dispatch the launches (all at once) in a fresh process-like setup; return the outcomes and
    the skip messages."""
    loaded = load_plan(str(root / "backups.yaml"))
    journal = open_journal(loaded)
    outcomes: list[Outcome] = []
    skips: list[str] = []
    try:
        session = make_session(loaded, journal, lambda event: None)
        dispatcher = Dispatcher(
            session,
            journal,
            clock=SystemClock(),
            on_skip=lambda job, message: skips.append(message),
            on_done=outcomes.append,
        )

        async def go() -> None:
            for launch in launches:
                dispatcher.start(launch)
            await dispatcher.wait()

        if hold is not None:
            with JobLock(loaded.state_dir, hold):  # `backupplan run` in another terminal
                asyncio.run(go())
        else:
            asyncio.run(go())
        finish(session)
    finally:
        journal.close()
    return outcomes, skips


def records(root: Path, kind: str) -> list[dict[str, Any]]:
    lines = (root / ".backupplan" / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if json.loads(line)["type"] == kind]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build(tmp_path / "src", {b"a.txt": b"alpha\n"})
    (tmp_path / "dst").mkdir()
    (tmp_path / "backups.yaml").write_text(PLAN.replace("SOURCE", "src"))
    return tmp_path


def test_a_job_running_in_another_process_is_an_overlap(root: Path) -> None:
    outcomes, skips = run_launches(
        root, Launch("photos", "schedule", utc(2026, 3, 1, 2), "slot"), hold="photos"
    )
    assert outcomes == []
    (skipped,) = records(root, "run.skipped")
    assert skipped["data"]["reason"] == "overlap" and skipped["data"]["slot"] == "2026-03-01T02:00:00.000Z"
    assert skipped["data"]["message"].startswith(
        "skipped: the job was still running (photos is already running (pid "
    )
    assert skips == [skipped["data"]["message"]]


def test_a_job_claimed_here_is_an_overlap(root: Path) -> None:
    first = Launch("photos", "apply", None, "never run")
    second = Launch("photos", "schedule", utc(2026, 3, 1, 2), "slot")
    outcomes, skips = run_launches(root, first, second)
    assert [outcome.result.status for outcome in outcomes if outcome.result] == ["succeeded"]
    assert skips == ["skipped: the job was still running (in this process)"]
    assert [record["data"]["reason"] for record in records(root, "run.skipped")] == ["overlap"]


def test_a_paused_job_is_skipped(root: Path) -> None:
    loaded = load_plan(str(root / "backups.yaml"))
    with open_journal(loaded) as journal:
        journal.append("job.paused", job="photos", data={"by": "test"})
    outcomes, _ = run_launches(root, Launch("photos", "schedule", utc(2026, 3, 1, 2), "slot"))
    assert [(outcome.skipped, outcome.ok) for outcome in outcomes] == [("paused", True)]
    assert [record["data"]["reason"] for record in records(root, "run.skipped")] == ["paused"]
    assert records(root, "run.started") == []


def test_failures_leave_a_growing_retry_note_and_a_success_clears_it(root: Path) -> None:
    (root / "backups.yaml").write_text(PLAN.replace("SOURCE", "missing"))
    for expected in (1, 2):
        outcomes, _ = run_launches(root, Launch("photos", "catch_up", None, "retry"))
        assert outcomes[0].result is not None and outcomes[0].result.status == "failed"
        note = records(root, "job.note")[-1]["data"]["retry"]
        assert note["failures"] == expected
        waited = (datetime.fromisoformat(note["next"]) - datetime.fromisoformat(note["at"])).total_seconds()
        assert waited == 600.0 * 2 ** (expected - 1)
    (root / "backups.yaml").write_text(PLAN.replace("SOURCE", "src"))
    outcomes, _ = run_launches(root, Launch("photos", "catch_up", None, "retry"))
    assert outcomes[0].ok
    assert records(root, "job.note")[-1]["data"] == {"retry": None}


def test_retry_delay() -> None:
    retries = Retries(attempts=3, backoff="30s", max_backoff="30m")  # type: ignore[arg-type]
    assert [retry_delay(retries, failures) for failures in (1, 2, 3, 4)] == [1800.0, 3600.0, 7200.0, 14400.0]
    assert retry_delay(retries, 40) == RETRY_CAP
