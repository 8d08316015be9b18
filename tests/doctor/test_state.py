"""The State dir section: locks and who holds them, journal problems, permissions, writability."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backupplan.doctor import Check, Context, Space, diagnose
from backupplan.doctor.state import process_text
from backupplan.journal import DAEMON_LOCK, JobLock, Journal, StateLock
from backupplan.journal.records import encode_line, raw_record
from tests.conftest import backupplan_env
from tests.journal.helpers import FROZEN, Clock, run_once
from tests.runner.helpers import wait_for

PLAN = """\
version: 1
settings: {timezone: UTC}
jobs:
  photos: {engine: rsync, source: src, destination: out, schedule: "@daily"}
"""


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_text("a")
    (tmp_path / "out").mkdir()
    path = tmp_path / "backups.yaml"
    path.write_text(PLAN)
    clock = Clock()
    with Journal.open(tmp_path / ".backupplan", clock=clock) as journal:
        run_once(journal, "photos", "20261128T120000Z-0001", clock)
    return path


def state_checks(plan: Path) -> dict[str, Check]:
    context = Context(now=FROZEN, space=lambda path: Space(100 * 1024**3, 50 * 1024**3))
    report = diagnose(str(plan), context)
    return {check.name: check for check in report.checks if check.section == "state"}


def test_locks_show_who_holds_them(plan: Path) -> None:
    state_dir = plan.parent / ".backupplan"
    me = process_text(os.getpid())
    with JobLock(state_dir, "photos"), StateLock(state_dir, DAEMON_LOCK):
        checks = state_checks(plan)
    assert checks["lock.photos"].message.startswith(f"photos is being run by {me}, since 20")
    assert checks["lock.daemon"].message.startswith(f"the daemon runs: {me}, since 20")
    assert checks["lock.photos"].facts["pid"] == os.getpid()
    free = state_checks(plan)
    assert "lock.photos" not in free
    assert free["lock.daemon"].message.startswith("no daemon is running: scheduled jobs run when")


@pytest.fixture
def follower(plan: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `backupplan logs --follow` process: it runs until stopped."""
    argv = [
        sys.executable,
        "-m",
        "backupplan",
        "logs",
        "--follow",
        "--state-dir",
        str(plan.parent / ".backupplan"),
    ]
    process = subprocess.Popen(
        argv, env=backupplan_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # Popen returns once exec began; the kernel fills /proc/PID/cmdline a moment later.
    wait_for(lambda: Path(f"/proc/{process.pid}/cmdline").read_bytes(), timeout=5, interval=0.01)
    yield process
    process.kill()
    process.wait(timeout=10)


def test_process_text_names_the_command(plan: Path, follower: subprocess.Popen[bytes]) -> None:
    command = f"backupplan logs --follow --state-dir {plan.parent / '.backupplan'}"
    shown = command if len(command) <= 120 else command[:119] + "…"  # a long temp path is cut
    assert process_text(follower.pid) == f"pid {follower.pid} ({shown})"
    assert process_text(0) == "a process that has not written its pid yet"
    unused = max(int(name) for name in os.listdir("/proc") if name.isdigit()) + 100_000
    assert process_text(unused) == f"pid {unused} (not visible here: another container or PID namespace?)"


def test_an_unrepaired_then_a_repaired_torn_tail(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    journal = plan.parent / ".backupplan" / "journal.jsonl"
    size = journal.stat().st_size
    with journal.open("ab") as handle:
        handle.write(b'{"v":1,"seq":4,"ts"')  # a write cut off by a power cut
    torn = state_checks(plan)["journal.torn_tail"]
    assert (torn.status, torn.message, torn.hint) == (
        "warn",
        f"journal: 19 bytes at byte {size} are not a whole record (a write cut off by a crash); "
        "the next backupplan that can write removes them",
        "`backupplan status` repairs it now",
    )
    assert journal.stat().st_size == size + 19  # doctor did not cut it
    assert cli(["status", "-p", str(plan)]).code == 0
    repaired = state_checks(plan)["journal.torn_tail"]
    assert repaired.status == "info"
    assert repaired.message.startswith("journal: repaired 20")
    assert repaired.message.endswith(
        f"a write cut off by a crash or power cut left 19 bytes at byte {size}; they were removed"
    )


def test_records_of_a_newer_format(plan: Path) -> None:
    journal = plan.parent / ".backupplan" / "journal.jsonl"
    record = raw_record(
        seq=4, ts="2026-11-28T12:00:00.000Z", type="run.started", job="photos", data={}, version=2
    )
    with journal.open("ab") as handle:
        handle.write(encode_line(record))
    newer = state_checks(plan)["journal.newer_format"]
    assert newer.status == "fail"
    assert newer.hint == "upgrade backupplan"
    assert "written by a newer backupplan (format 2)" in newer.message


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the state dir to another user takes root")
def test_a_state_dir_others_may_write_and_that_is_not_ours(plan: Path) -> None:
    state_dir = plan.parent / ".backupplan"
    os.chown(state_dir, 65534, 65534)
    state_dir.chmod(0o775)
    checks = state_checks(plan)
    permissions = checks["permissions"]
    assert permissions.status == "fail"
    assert permissions.message == (
        f"{state_dir} can be written by other users (mode 0775, owner nobody (uid 65534)): it is refused"
    )
    assert [name for name, check in checks.items() if check.problem] == ["permissions"]


@pytest.fixture
def immutable(plan: Path) -> Iterator[Path]:
    state_dir = plan.parent / ".backupplan"
    subprocess.run(["chattr", "+i", str(state_dir)], check=True)
    try:
        yield state_dir
    finally:
        subprocess.run(["chattr", "-i", str(state_dir)], check=True)


@pytest.mark.slow
def test_a_state_dir_that_cannot_be_written(plan: Path, immutable: Path) -> None:
    checks = state_checks(plan)
    writable = checks["writable"]
    assert (writable.status, writable.message, writable.hint) == (
        "fail",
        f"{immutable} cannot be written: it is immutable (chattr +i); no run can be recorded",
        f"remove the attribute: chattr -i {immutable}",
    )
    assert [name for name, check in checks.items() if check.problem] == ["writable"]


@pytest.mark.slow
def test_a_state_dir_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "locked").mkdir()
    plan = tmp_path / "backups.yaml"
    plan.write_text(
        PLAN.replace("settings: {timezone: UTC}", "settings: {timezone: UTC, state_dir: locked/state}")
    )
    subprocess.run(["chattr", "+i", str(tmp_path / "locked")], check=True)
    try:
        folder = state_checks(plan)["folder"]
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "locked")], check=True)
    assert folder.status == "fail"
    assert folder.message == (
        f"{tmp_path / 'locked' / 'state'} does not exist and cannot be created in {tmp_path / 'locked'}: "
        "it is immutable (chattr +i)"
    )


def test_each_journal_problem_is_one_check_named_by_its_kind(plan: Path) -> None:
    journal = plan.parent / ".backupplan" / "journal.jsonl"
    with Journal.open(plan.parent / ".backupplan") as more:
        for number in range(3):
            more.append("job.note", job="photos", data={"n": number})
    lines = journal.read_bytes().splitlines(keepends=True)
    for index in (1, 4):  # two stretches of damage, apart
        damaged = bytearray(lines[index])
        damaged[30] ^= 0x01
        lines[index] = bytes(damaged)
    journal.write_bytes(b"".join(lines) + b'{"v":1,"seq')
    checks = state_checks(plan)
    assert [name for name in checks if name.startswith("journal.")] == [
        "journal.damaged", "journal.damaged.2", "journal.torn_tail"
    ]  # fmt: skip
    assert [checks[name].status for name in checks if name.startswith("journal.")] == ["fail", "fail", "warn"]
    assert checks["journal.damaged"].message.startswith("journal damaged: line 2 (byte ")
    assert checks["journal.damaged.2"].message.startswith("journal damaged: line 5 (byte ")


def test_a_full_state_dir_fails_and_a_low_one_warns(plan: Path) -> None:
    def space_check(free: int) -> Check:
        context = Context(now=FROZEN, space=lambda path: Space(100 * 1024**3, free))
        (check,) = [check for check in diagnose(str(plan), context).checks if check.name == "space"]
        return check

    full = space_check(4096)
    assert full.status == "fail"
    assert full.message.startswith(f"{plan.parent / '.backupplan'} is full: no run can be recorded")
    assert "move settings.state_dir" in (full.hint or "")
    assert space_check(512 * 1024**2).status == "warn"
    assert space_check(50 * 1024**3).status == "ok"
