"""`backupplan recover`: list the runs a crash interrupted, resume, pause or dismiss them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.scheduler.conftest import World, utc
from tests.trees import build, describe

JOBS = """\
  photos:
    engine: rsync
    source: src
    destination: dst/photos
    schedule: "0 2 * * *"
"""


def crashed(tmp_path: Path, settings: str = "  timezone: UTC\n") -> Path:
    """A plan whose photos run started and whose process died (nothing ended it)."""
    build(tmp_path / "src", {b"a.txt": b"alpha\n"})
    (tmp_path / "dst").mkdir()
    world = World(tmp_path)
    world.plan(JOBS, settings=settings)
    world.append("run.started", utc(2026, 3, 1, 2), job="photos", run="20260301T020000Z-dead",
                 data={"trigger": "schedule", "engine": "rsync", "pid": 999999})  # fmt: skip
    world.close()
    return tmp_path / "backups.yaml"


def types(root: Path) -> list[dict[str, Any]]:
    lines = (root / ".backupplan" / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_nothing_to_recover(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    World(tmp_path).plan(JOBS)
    result = cli(["recover", "-p", str(tmp_path / "backups.yaml")])
    assert (result.code, result.out) == (0, "No interrupted run needs handling.\n")
    again = cli(["recover", "--dismiss", "-p", str(tmp_path / "backups.yaml")])
    assert (again.code, again.out) == (0, "No interrupted run to handle.\n")


def test_list_then_dismiss(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = crashed(tmp_path)
    listed = cli(["recover", "-p", str(plan)])
    assert listed.code == 0
    assert listed.out.splitlines()[0] == "Runs a crash interrupted:"
    assert listed.out.splitlines()[1].startswith("  photos  run 20260301T020000Z-dead, found ")
    assert listed.out.splitlines()[1].endswith(
        "pending: the next apply or daemon start will resume it (recovery: resume)"
    )
    dismissed = cli(["recover", "--dismiss", "photos", "-p", str(plan)])
    assert (dismissed.code, dismissed.out) == (0, "photos: run 20260301T020000Z-dead dismissed\n")
    handled = [record for record in types(tmp_path) if record["type"] == "recovery.handled"]
    assert [record["data"]["action"] for record in handled] == ["dismissed"]
    assert cli(["recover", "-p", str(plan)]).out == "No interrupted run needs handling.\n"
    assert "interrupted by a crash" not in cli(["plan", "-p", str(plan)]).out


def test_a_job_held_by_recovery_pause_is_resumed_by_hand(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = crashed(tmp_path, settings="  timezone: UTC\n  recovery: pause\n")
    applied = cli(["apply", "-p", str(plan)])  # recovery: pause holds the job
    assert applied.code == 0, applied.err
    assert "held: run 20260301T020000Z-dead was interrupted by a crash; paused until" in applied.out
    listed = cli(["recover", "-p", str(plan)])
    assert "the job is paused until it is resumed or recovered" in listed.out
    resumed = cli(["recover", "--resume", "-p", str(plan)])
    assert resumed.code == 0, resumed.err
    assert "photos: run 20260301T020000Z-dead resumed" in resumed.out
    assert "1 of 1 job succeeded." in resumed.out
    assert describe(tmp_path / "dst" / "photos") == describe(tmp_path / "src")
    records = types(tmp_path)
    assert [record["data"]["action"] for record in records if record["type"] == "recovery.handled"] == [
        "paused",
        "resumed",
    ]
    assert [record["type"] for record in records if record["type"] in ("job.paused", "job.resumed")] == [
        "job.paused",
        "job.resumed",
    ]
    assert [record["data"]["trigger"] for record in records if record["type"] == "run.started"][
        -1
    ] == "resume"


def test_pause_by_hand(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = crashed(tmp_path)
    result = cli(["recover", "--pause", "-p", str(plan)])
    assert (result.code, result.out) == (0, "photos: run 20260301T020000Z-dead paused\n")
    status = json.loads(cli(["status", "--json", "-p", str(plan)]).out)
    assert status["jobs"][0]["paused"] is True


def test_an_unknown_job(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = crashed(tmp_path)
    result = cli(["recover", "--resume", "fotos", "-p", str(plan)])
    assert result.code == 1
    assert "no job 'fotos' in " in result.err


@pytest.mark.slow
def test_a_crash_found_by_apply_is_notified_and_resumed(tmp_path: Path, cli, receiver) -> None:  # type: ignore[no-untyped-def]
    plan = crashed(
        tmp_path,
        settings=f"  timezone: UTC\n  notify: [{{url: 'json://{receiver.url}/hook', on: [interrupted]}}]\n",
    )
    result = cli(["apply", "-p", str(plan)])
    assert result.code == 0, result.out + result.err
    assert "interrupted by a crash (run 20260301T020000Z-dead): resuming (recovery: resume)" in result.out
    (message,) = receiver.wait_for(1)
    assert "photos" in message.body.decode() and "interrupted" in message.body.decode().lower()
    sent = [record["data"]["event"] for record in types(tmp_path) if record["type"] == "notify.sent"]
    assert sent == ["interrupted"]
    assert describe(tmp_path / "dst" / "photos") == describe(tmp_path / "src")
