"""`backupplan doctor` end to end, after a real run: healthy, then one fault at a time. Each fault
must be named exactly once (one problem line, one warn/fail check) and make the exit code 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import backupplan_env
from tests.runner.helpers import write_plan

JOB = """\
  photos:
    engine: rsync
    source: src
    destination: out
    schedule: "0 2 * * *"
"""


@pytest.fixture
def setup(tmp_path: Path, run_backupplan) -> Path:  # type: ignore[no-untyped-def]
    """A plan whose one job ran successfully: state dir, journal, logs and site all exist."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a\n")
    (tmp_path / "out").mkdir()
    plan = write_plan(tmp_path, JOB)
    result = run_backupplan(["run", "--plan", str(plan), "photos"])
    assert result.returncode == 0, result.stdout + result.stderr
    return plan


def doctor(run_backupplan, plan: Path, env: dict[str, str] | None = None) -> tuple[int, str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    screen = run_backupplan(["doctor", "--plan", str(plan)], env=env)
    report = run_backupplan(["doctor", "--json", "--plan", str(plan)], env=env)
    assert screen.returncode == report.returncode, screen.stderr + report.stderr
    assert screen.stderr == "" and report.stderr == ""
    return screen.returncode, screen.stdout, json.loads(report.stdout)


def problems(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (check["section"], check["name"], check["status"])
        for check in report["checks"]
        if check["status"] in ("warn", "fail")
    ]


def problem_lines(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if line.startswith(("  WARN  ", "  FAIL  "))]


def test_a_healthy_setup_passes(setup: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    code, screen, report = doctor(run_backupplan, setup)
    assert code == 0, screen
    assert problems(report) == []
    assert problem_lines(screen) == []
    assert report["healthy"] is True and report["exit_code"] == 0
    assert screen.splitlines()[-1] == f"Everything looks fine ({len(report['checks'])} checks)."
    names = {(check["section"], check["name"]): check for check in report["checks"]}
    assert names[("tools", "rsync")]["status"] == "ok"
    assert names[("plan", "job.photos")]["message"].startswith(
        "photos: rsync, schedule '0 2 * * *', next run "
    )
    assert "; last run succeeded " in names[("plan", "job.photos")]["message"]
    records = len((setup.parent / ".backupplan" / "journal.jsonl").read_bytes().splitlines())
    assert (
        names[("state", "journal")]["message"] == f"journal: {records} records, healthy; never compacted yet"
    )
    assert names[("locations", "photos.source")]["status"] == "ok"
    assert names[("locations", "photos.destination")]["status"] == "ok"
    assert names[("site", "build")]["message"].startswith("last built 20")


@pytest.mark.slow
def test_rsync_missing_from_path(setup: Path, run_backupplan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("rclone", "ssh", "setpriv"):  # everything but rsync
        found = shutil.which(program)
        if found:
            (bin_dir / program).symlink_to(found)
    code, screen, report = doctor(run_backupplan, setup, env={"PATH": str(bin_dir)})
    assert code == 1
    assert problems(report) == [("tools", "rsync", "fail")]
    assert problem_lines(screen) == [
        "  FAIL  rsync is not installed, and job photos needs it — "
        "install it (e.g. apt-get install rsync), or fix PATH"
    ]
    assert screen.splitlines()[-1] == "1 problem: 1 failure."


@pytest.fixture
def immutable_destination(setup: Path) -> Iterator[Path]:
    out = setup.parent / "out"
    subprocess.run(["chattr", "+i", str(out)], check=True)
    try:
        yield out
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)


@pytest.mark.slow
def test_an_unwritable_destination(setup: Path, immutable_destination: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    code, screen, report = doctor(run_backupplan, setup)
    assert code == 1
    assert problems(report) == [("locations", "photos.destination", "fail")]
    assert problem_lines(screen) == [
        f"  FAIL  photos: destination {immutable_destination} is not writable: it is immutable (chattr +i) — "
        f"remove the attribute: chattr -i {immutable_destination}"
    ]


@pytest.mark.slow
def test_a_world_readable_state_dir(setup: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    state = setup.parent / ".backupplan"
    state.chmod(0o755)
    code, screen, report = doctor(run_backupplan, setup)
    assert code == 1
    assert problems(report) == [("state", "permissions", "warn")]
    assert problem_lines(screen) == [
        f"  WARN  {state} can be read by other users (mode 0755): the journal and the logs show paths and "
        f"file names — chmod 700 {state} (backupplan also tightens it the next time it writes there)"
    ]
    assert state.stat().st_mode & 0o777 == 0o755  # doctor changed nothing
    assert screen.splitlines()[-1] == "1 problem: 1 warning."


@pytest.mark.slow
def test_a_damaged_journal(setup: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    journal = setup.parent / ".backupplan" / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    assert b'"type":"run.child"' in lines[1]  # a middle line whose loss changes no job's status
    damaged = bytearray(lines[1])
    damaged[40] ^= 0x01
    journal.write_bytes(b"".join([lines[0], bytes(damaged), *lines[2:]]))
    before = journal.read_bytes()
    code, screen, report = doctor(run_backupplan, setup)
    assert code == 1
    assert problems(report) == [("state", "journal.damaged", "fail")]
    (line,) = problem_lines(screen)
    assert line.startswith("  FAIL  journal damaged: line 2 (byte ")
    assert "checksum mismatch" in line
    assert line.endswith(
        "— backups go on; `backupplan journal repair` drops the damaged lines (keeping a copy)"
    )
    assert journal.read_bytes() == before  # doctor changed nothing
    assert not list(journal.parent.glob("journal.damaged-*"))
    assert [check["message"] for check in report["checks"] if check["name"] == "journal"] == [
        f"journal: {len(lines) - 1} records, NOT healthy; never compacted yet"
    ]


def test_an_invalid_plan_lists_every_problem_like_validate(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    plan = tmp_path / "backups.yaml"
    plan.write_text("version: 1\njobs:\n  a:\n    engine: rsink\n    source: src\n    destinaton: out\n")
    validate = run_backupplan(["validate", str(plan)])
    code, screen, report = doctor(run_backupplan, plan)
    assert code == 1
    assert problems(report) == [
        ("plan", "problem.1", "fail"),
        ("plan", "problem.2", "fail"),
        ("plan", "problem.3", "fail"),
    ]
    shown = [line.removeprefix("  FAIL  ") for line in problem_lines(screen)]
    expected = validate.stderr.splitlines()[:-1]  # without the "3 problems found." count
    assert [line.replace(" — ", " (", 1) + ")" if " — " in line else line for line in shown] == expected
    assert (
        "  info  the state dir, sources, destinations and site are checked once the plan is valid" in screen
    )
    assert [check["facts"]["line"] for check in report["checks"] if check["section"] == "plan"] == [3, 4, 6]


def test_doctor_changes_nothing_in_a_fresh_folder(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a\n")
    plan = write_plan(tmp_path, "  photos: {engine: rsync, source: src, destination: out}\n")
    code, screen, report = doctor(run_backupplan, plan)
    assert code == 0, screen
    assert sorted(os.listdir(tmp_path)) == ["backups.yaml", "src"]
    messages = {check["name"]: check["message"] for check in report["checks"] if check["section"] == "state"}
    assert messages["folder"] == f"{tmp_path / '.backupplan'} does not exist yet: the first run creates it"
    assert messages["journal"] == "no journal yet: the first run writes it"
    destination = next(check for check in report["checks"] if check["name"] == "photos.destination")
    assert destination["message"].startswith(f"photos: destination {tmp_path / 'out'} does not exist yet; ")


@pytest.mark.slow
def test_run_by_a_user_who_may_not_write_anything(run_backupplan, as_nobody: list[str]) -> None:  # type: ignore[no-untyped-def]
    import tempfile

    from backupplan.journal import Journal

    root = Path(tempfile.mkdtemp(prefix="backupplan-doctor-"))  # unlike tmp_path, others may enter it
    try:
        root.chmod(0o755)
        (root / "src").mkdir()
        (root / "src" / "a.txt").write_text("a\n")
        (root / "out").mkdir()
        plan = write_plan(root, "  photos: {engine: rsync, source: src, destination: out}\n")
        Journal.open(root / ".backupplan").close()  # private to root
        result = subprocess.run(
            [*as_nobody, sys.executable, "-m", "backupplan", "doctor", "--json", "--plan", str(plan)],
            env=backupplan_env({"HOME": str(root)}), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.stderr == ""
        assert result.returncode == 1
        report = json.loads(result.stdout)
        assert problems(report) == [
            ("state", "permissions", "warn"),
            ("state", "writable", "fail"),
            ("locations", "photos.destination", "fail"),
            ("site", "folder", "fail"),
        ]
        messages = {check["name"]: check["message"] for check in report["checks"]}
        assert messages["writable"] == (
            f"{root}/.backupplan cannot be written: permission denied (owner root (uid 0), mode 0700; "
            "backupplan runs as nobody (uid 65534)); no run can be recorded"
        )
        assert messages["journal"] == "journal not read: this user cannot read it"
    finally:
        shutil.rmtree(root)
