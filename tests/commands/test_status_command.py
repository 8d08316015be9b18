"""`backupplan status`: the human table and the JSON document under a frozen clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from backupplan.commands.status import status_command
from backupplan.journal import JobLock
from tests.journal.helpers import FROZEN, demo


def run_status(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, as_json: bool) -> tuple[int, str]:
    plan, state_dir = demo(tmp_path)
    capsys.readouterr()
    with JobLock(state_dir, "docs"):  # docs' runner is alive
        code = status_command(str(plan), state_dir=None, as_json=as_json, now=FROZEN)
    return code, capsys.readouterr().out.replace(str(tmp_path), "<tmp>")


def test_status_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion
) -> None:
    code, out = run_status(tmp_path, capsys, as_json=False)
    assert code == 0
    assert out == snapshot


def test_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion) -> None:
    code, out = run_status(tmp_path, capsys, as_json=True)
    assert code == 0
    document = json.loads(out)
    assert document["format"] == 1
    digest = document["plan"]["digest"]
    space = document["state_dir"]
    assert space["free_bytes"] > 0 and space["problem"] is None
    for key in ("free_bytes", "total_bytes"):  # this machine's disk
        out = out.replace(f'"{key}": {space[key]},', f'"{key}": "<{key}>",')
    assert out.replace(digest, "sha256:<digest of the plan>") == snapshot


def test_damage_shows_in_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan, state_dir = demo(tmp_path)
    journal = state_dir / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    del lines[3]
    journal.write_bytes(b"".join(lines))
    with JobLock(state_dir, "docs"):
        assert status_command(str(plan), state_dir=None, as_json=False, now=FROZEN) == 0
    out = capsys.readouterr().out
    assert "Journal: 19 records, NOT HEALTHY." in out  # and an interruption: its end was lost
    assert "  damaged: records 4-4 are missing before line 4 (byte " in out
    assert "(copy kept at " + str(state_dir / "journal.damaged-") in out
    assert "`backupplan journal repair`" in out


def test_status_in_a_fresh_folder_creates_a_private_state_dir(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan, _ = demo(tmp_path / "elsewhere")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "backups.yaml").write_text(plan.read_text())
    result = cli(["status", "-p", str(fresh / "backups.yaml")])
    assert result.code == 0, result.err
    assert "newcomer  never run" in result.out
    assert (fresh / ".backupplan").stat().st_mode & 0o777 == 0o700


def test_an_invalid_plan_exits_1(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "backups.yaml").write_text("version: 1\njobs: {a: {engine: rsink}}\n")
    result = cli(["status", "-p", str(tmp_path / "backups.yaml")])
    assert result.code == 1
    assert "rsink" in result.err


def test_state_dir_alone(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _, state_dir = demo(tmp_path)
    with JobLock(state_dir, "docs"):
        result = cli(["status", "--json", "--state-dir", str(state_dir)])
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["plan"] is None
    assert {job["id"]: job["status"] for job in document["jobs"]}["old"] == "removed"


def test_an_unwritable_state_dir_still_shows_status_and_exits_1(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan, _ = demo(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the state dir should be")
    text = plan.read_text().replace("timezone: UTC", f"timezone: UTC\n  state_dir: {blocker}/state")
    plan.write_text(text)
    result = cli(["status", "-p", str(plan)])
    assert result.code == 1
    assert "unwritable: cannot create folder " + str(blocker / "state") in result.out
