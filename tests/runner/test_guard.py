"""The last good copy is never destroyed (docs/guard.md), with the real rsync and rclone on real
files: an unmounted or empty source is refused, a run that rewrites every file or deletes most of
them is held before it touches the destination (which stays equal to the last good copy, as
`diff -r` sees it), `--accept-changes` lets one run through, and an ordinary day is counted
exactly."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.mounts import small_tmpfs
from tests.runner.helpers import of_type, start_run, wait_for, write_plan
from tests.trees import build, describe

pytestmark = pytest.mark.slow

FILES = {f"f{number:02d}.txt".encode(): f"content {number}\n".encode() for number in range(20)}


def mirror(tmp_path: Path, source: str = "src", extra: str = "", engine: str = "rsync") -> Path:
    return write_plan(
        tmp_path,
        f"  docs:\n    engine: {engine}\n    source: {source}\n    destination: dst\n    delete: true\n{extra}",
    )


def same_tree(left: Path, right: Path) -> None:
    """`diff -r` finds no difference."""
    done = subprocess.run(["diff", "-r", str(left), str(right)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def last_finished(state: Path) -> dict[str, Any]:
    return of_type(state, "run.finished")[-1]["data"]


def snapshot_copy(tmp_path: Path) -> Path:
    """A copy of the destination as it is now (the last good copy)."""
    copy = tmp_path / "last-good"
    subprocess.run(["cp", "-a", str(tmp_path / "dst"), str(copy)], check=True)
    return copy


@pytest.mark.parametrize("engine", ["rsync", "rclone"])
def test_an_ordinary_day_is_counted_exactly(tmp_path: Path, run_backupplan, engine: str) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    plan = mirror(tmp_path, engine=engine)
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    state = tmp_path / ".backupplan"
    assert last_finished(state)["changes"] == {"added": 20, "changed": 0, "deleted": 0}
    (tmp_path / "src" / "new.txt").write_text("new\n")
    (tmp_path / "src" / "f01.txt").write_text("content one, edited\n")
    (tmp_path / "src" / "f02.txt").unlink()
    result = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_finished(state)["changes"] == {"added": 1, "changed": 1, "deleted": 1}
    listed = run_backupplan(["changes", "--plan", str(plan), "docs"])
    assert listed.returncode == 0
    assert set(listed.stdout.splitlines()[:3]) == {"added    new.txt", "changed  f01.txt", "deleted  f02.txt"}
    history = run_backupplan(["history", "--plan", str(plan), "docs"])
    assert "+1 ~1 -1" in history.stdout
    same_tree(tmp_path / "src", tmp_path / "dst")
    nothing = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert nothing.returncode == 0
    assert last_finished(state)["changes"] == {"added": 0, "changed": 0, "deleted": 0}


def test_an_emptied_destination_is_copied_at_once_and_counted(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    """A local destination found empty (a disk replaced) holds nothing to delete or rewrite: the
    guard does not look first (one transfer, not a dry run of every file then the copy)."""
    build(tmp_path / "src", FILES)
    plan = mirror(tmp_path)
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    (tmp_path / "src" / "f03.txt").write_text("edited\n")
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    logs = tmp_path / ".backupplan" / "logs" / "docs"

    def newest_log() -> str:
        return max(logs.glob("*.log"), key=lambda log: log.stat().st_mtime_ns).read_text()

    assert "guard: looking first" in newest_log()  # a copy there: it looks first
    subprocess.run(["rm", "-rf", str(tmp_path / "dst")], check=True)
    (tmp_path / "dst").mkdir()
    result = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "guard: looking first" not in newest_log()
    assert last_finished(tmp_path / ".backupplan")["changes"] == {"added": 20, "changed": 0, "deleted": 0}
    same_tree(tmp_path / "src", tmp_path / "dst")


def test_an_empty_source_over_a_full_destination_is_refused(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    plan = mirror(tmp_path)
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    good = snapshot_copy(tmp_path)
    for path in (tmp_path / "src").iterdir():
        path.unlink()
    refused = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert refused.returncode == 1
    data = last_finished(tmp_path / ".backupplan")
    assert data["status"] == "failed"
    assert data["reason"].startswith(f"refused: the source {tmp_path / 'src'} is empty while the destination")
    assert "--accept-changes" in data["reason"]
    same_tree(good, tmp_path / "dst")
    accepted = run_backupplan(["run", "--plan", str(plan), "docs", "--accept-changes"])
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert last_finished(tmp_path / ".backupplan")["accepted"] is True
    assert list((tmp_path / "dst").iterdir()) == []


def test_an_unmounted_source_disk_is_refused(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    disk = tmp_path / "disk"
    with small_tmpfs(disk, mode="755"):
        build(disk, FILES)
        plan = mirror(tmp_path, source="disk")
        assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    good = snapshot_copy(tmp_path)
    assert list(disk.iterdir()) == []  # the mount point, as a disk that did not come up leaves it
    refused = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert refused.returncode == 1
    assert "is empty while the destination holds files" in last_finished(tmp_path / ".backupplan")["reason"]
    same_tree(good, tmp_path / "dst")


def test_a_missing_source_marker_is_refused(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {**FILES, b".backupplan-source": b""})
    plan = mirror(tmp_path, extra="    source_marker: .backupplan-source\n")
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    (tmp_path / "src" / ".backupplan-source").unlink()
    good = snapshot_copy(tmp_path)
    refused = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert refused.returncode == 1
    reason = last_finished(tmp_path / ".backupplan")["reason"]
    assert reason.startswith("refused: .backupplan-source is missing from the source")
    same_tree(good, tmp_path / "dst")


@pytest.mark.parametrize("engine", ["rsync", "rclone"])
def test_every_file_rewritten_is_held_and_changes_nothing(
    tmp_path: Path, run_backupplan, engine: str
) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    plan = mirror(tmp_path, engine=engine)
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    good = snapshot_copy(tmp_path)
    for path in (tmp_path / "src").iterdir():
        path.write_bytes(b"ENCRYPTED " + path.read_bytes()[::-1])
    held = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert held.returncode == 1
    data = last_finished(tmp_path / ".backupplan")
    assert data["status"] == "held"
    assert data["reason"] == "held: 20 of 20 files would be rewritten (limit 50%)"
    assert data["changes"] == {"added": 0, "changed": 20, "deleted": 0}
    assert len(data["sample"]["changed"]) == 5
    same_tree(good, tmp_path / "dst")
    status = run_backupplan(["status", "--plan", str(plan)])
    assert "docs" in status.stdout and "held" in status.stdout
    listed = run_backupplan(["changes", "--plan", str(plan), "docs"])
    assert listed.stdout.count("changed  ") == 20
    offered = run_backupplan(["recover", "--plan", str(plan)])
    assert "Runs the guard held" in offered.stdout
    assert "`backupplan run docs --accept-changes`" in offered.stdout
    accepted = run_backupplan(["run", "--plan", str(plan), "docs", "--accept-changes"])
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    same_tree(tmp_path / "src", tmp_path / "dst")


@pytest.mark.parametrize("engine", ["rsync", "rclone"])
def test_the_limits_are_shares_of_the_whole_destination_whatever_the_last_run_did(
    tmp_path: Path, run_backupplan, engine: str
) -> None:  # type: ignore[no-untyped-def]
    """The guard's shares are of the files at the destination, not of what the last run copied: a
    run that copied one file must not make the next one-file change "100 %", nor a run that copied
    nothing switch the guard off for the next mass deletion."""
    build(tmp_path / "src", FILES)
    plan = mirror(tmp_path, engine=engine)
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    for name in ("f01.txt", "f02.txt"):  # one edit per run
        (tmp_path / "src" / name).write_text(f"{name} edited\n")
        done = run_backupplan(["run", "--plan", str(plan), "docs"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert last_finished(tmp_path / ".backupplan")["changes"] == {"added": 0, "changed": 1, "deleted": 0}
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0  # nothing to copy
    good = snapshot_copy(tmp_path)
    for path in sorted((tmp_path / "src").iterdir())[:16]:
        path.unlink()
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 1
    data = last_finished(tmp_path / ".backupplan")
    assert (data["status"], data["reason"]) == ("held", "held: 16 of 20 files would be deleted (limit 10%)")
    same_tree(good, tmp_path / "dst")


def test_a_legitimate_mass_deletion_is_held_then_accepted(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    plan = mirror(tmp_path)
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    good = snapshot_copy(tmp_path)
    for path in sorted((tmp_path / "src").iterdir())[:16]:  # 80 % of the files
        path.unlink()
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 1
    data = last_finished(tmp_path / ".backupplan")
    assert (data["status"], data["reason"]) == ("held", "held: 16 of 20 files would be deleted (limit 10%)")
    same_tree(good, tmp_path / "dst")
    assert run_backupplan(["run", "--plan", str(plan), "docs", "--accept-changes"]).returncode == 0
    assert last_finished(tmp_path / ".backupplan")["changes"] == {"added": 0, "changed": 0, "deleted": 16}
    same_tree(tmp_path / "src", tmp_path / "dst")


def test_guard_off_copies_whatever_happened(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    plan = mirror(tmp_path, extra="    guard: off\n")
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    for path in (tmp_path / "src").iterdir():
        path.unlink()
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    assert list((tmp_path / "dst").iterdir()) == []


def test_a_held_snapshot_is_discarded_and_the_last_one_stays(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    plan = write_plan(
        tmp_path, "  docs:\n    engine: rsync\n    source: src\n    destination: dst\n    snapshots: {}\n"
    )
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    (first,) = [path for path in (tmp_path / "dst").iterdir() if path.name != "latest"]
    before = describe(tmp_path / "dst" / first.name)
    time.sleep(1.1)  # the next snapshot gets another id
    (tmp_path / "src" / "added.txt").write_text("a\n")
    (tmp_path / "src" / "f03.txt").write_text("changed\n")
    (tmp_path / "src" / "f04.txt").unlink()
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    assert last_finished(tmp_path / ".backupplan")["changes"] == {"added": 1, "changed": 1, "deleted": 1}
    time.sleep(1.1)
    for path in (tmp_path / "src").iterdir():
        path.write_text("rewritten by something gone wrong\n")
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 1
    data = last_finished(tmp_path / ".backupplan")
    assert data["status"] == "held" and data["changes"]["changed"] == 20
    snapshots = sorted(path.name for path in (tmp_path / "dst").iterdir() if not path.name.startswith("."))
    assert len(snapshots) == 3  # two complete ones and `latest`: the held one was discarded
    assert describe(tmp_path / "dst" / first.name) == before
    assert not any(path.name.endswith(".partial") for path in (tmp_path / "dst").iterdir())


def test_kill_9_during_a_held_run_and_during_an_accepted_run(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    files = {f"f{number:04d}.bin".encode(): bytes(8192) for number in range(400)}
    build(tmp_path / "src", files)
    plan = mirror(tmp_path, extra="    bandwidth: 512KiB\n")
    assert run_backupplan(["run", "--plan", str(plan), "docs"], timeout=120).returncode == 0
    good = snapshot_copy(tmp_path)
    for path in (tmp_path / "src").iterdir():
        path.write_bytes(b"x" * 9000)
    state = tmp_path / ".backupplan"

    # Killed as soon as it started: in its dry run, or just after it was held.
    held = start_run(plan, "docs")
    wait_for(lambda: len(of_type(state, "run.started")) == 2)
    held.kill()
    held.wait(timeout=10)
    assert run_backupplan(["status", "--plan", str(plan)]).returncode == 0  # finds the run, if it was open
    second = of_type(state, "run.started")[1]["run"]
    ends = [record for record in of_type(state, "run.finished") + of_type(state, "run.interrupted")
            if record["run"] == second]  # fmt: skip
    assert len(ends) == 1 and ends[0]["data"].get("status", "interrupted") in ("held", "interrupted")
    same_tree(good, tmp_path / "dst")  # the last good copy, whatever moment the kill hit

    # Killed in the middle of an accepted transfer: recorded as interrupted, then completed.
    accepted = start_run(plan, "docs", "--accept-changes")
    wait_for(lambda: len(of_type(state, "run.child")) >= 2)
    time.sleep(0.5)
    accepted.kill()
    accepted.wait(timeout=10)
    done = run_backupplan(["run", "--plan", str(plan), "docs", "--accept-changes"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    third = of_type(state, "run.started")[2]["run"]
    assert [record["run"] for record in of_type(state, "run.interrupted")][-1] == third
    same_tree(tmp_path / "src", tmp_path / "dst")
