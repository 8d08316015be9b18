"""Verification with the real rsync and rclone: quick and checksum modes, after a run and on demand."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from backupplan.engines import Difference, TransferSpec
from backupplan.runner.verify import VerifyReport, verify_copy
from tests.snapshots import trees
from tests.snapshots.conftest import (
    SnapshotJob,
    _nothing_left_running,  # noqa: F401  (autouse)
)


def remove_quietly(path: Path) -> None:
    """Delete a file and put its folder's time back, so that only the file is missing."""
    folder = path.parent.stat()
    path.unlink()
    os.utime(path.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))


def flip_a_byte(path: Path) -> None:
    """Change one byte, keeping size and times: what bit rot looks like to rsync's quick check."""
    status = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


@pytest.fixture
def copied(tmp_path: Path) -> tuple[Path, Path]:
    source = trees.generate(tmp_path / "source", files=20)
    copy = tmp_path / "copy"
    copy.mkdir()
    subprocess.run(["rsync", "-a", f"{source}/", f"{copy}/"], check=True)
    return source, copy


def check(engine: str, source: Path, copy: Path, mode: str, **fields: object) -> VerifyReport:
    spec = TransferSpec(f"{source}/" if engine == "rsync" else str(source), str(copy), **fields)  # type: ignore[arg-type]
    return asyncio.run(verify_copy(engine, spec, mode, timeout=30))  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["rsync", "rclone"])
def test_a_changed_byte_is_seen_by_checksum_mode_only(engine: str, copied: tuple[Path, Path]) -> None:
    source, copy = copied
    victim = sorted(copy.rglob("*.txt"), key=lambda path: -path.stat().st_size)[0]
    flip_a_byte(victim)
    relative = victim.relative_to(copy).as_posix()

    quick = check(engine, source, copy, "quick")
    thorough = check(engine, source, copy, "checksum")

    assert (quick.ok, quick.differences) == (True, [])
    assert quick.summary() == "verify: no differences"
    assert thorough.differences == [Difference("changed", relative)]
    assert not thorough.ok
    assert thorough.summary() == "verify failed: 1 difference"
    assert thorough.lines() == [f"~ changed  {relative}"]
    assert thorough.record() == {
        "status": "failed", "differences": 1, "mode": "checksum",
        "message": f"1 difference between source and destination (1 changed), e.g. {relative}",
    }  # fmt: skip


@pytest.mark.parametrize("engine", ["rsync", "rclone"])
def test_a_missing_file_is_seen_by_quick_mode(engine: str, copied: tuple[Path, Path]) -> None:
    source, copy = copied
    gone = sorted(copy.rglob("*.txt"))[3]
    remove_quietly(gone)

    report = check(engine, source, copy, "quick")

    assert report.differences == [Difference("missing", gone.relative_to(copy).as_posix())]
    assert report.summary() == "verify failed: 1 difference"
    assert report.record()["status"] == "failed"


def test_a_comparison_that_cannot_run_is_a_failure_not_a_pass(copied: tuple[Path, Path]) -> None:
    source, copy = copied
    report = check("rsync", source.parent / "no-such-source", copy, "quick")
    assert not report.ok and report.differences == []
    assert report.summary().startswith(
        "verify could not compare: exit 23: some files could not be transferred"
    )


def test_a_mirror_with_bit_rot_fails_its_run_and_shows_in_status(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The transfer skips the rotten file (same size and time); checksum verification does not."""
    job = SnapshotJob(tmp_path)
    trees.generate(job.source, files=15)
    job.write_plan(destination="./mirror", verify="checksum")
    assert job.run().status == "succeeded"
    victim = sorted((tmp_path / "mirror").rglob("*.txt"), key=lambda path: -path.stat().st_size)[0]
    flip_a_byte(victim)

    result = job.run()

    relative = victim.relative_to(tmp_path / "mirror").as_posix()
    assert (result.status, result.reason) == (
        "failed",
        "verify failed: 1 difference (the differences are listed in the run's log)",
    )
    assert f"[verify] ~ changed  {relative}" in job.log(result)
    shown = cli(["status", "--json", "--plan", str(job.plan)])
    verify = json.loads(shown.out)["jobs"][0]["verify"]
    assert {key: verify[key] for key in ("status", "differences", "run")} == {
        "status": "failed",
        "differences": 1,
        "run": result.run,
    }

    again = cli(["verify", "docs", "--plan", str(job.plan)])  # on demand: the job's mode (checksum)
    assert again.code == 1
    assert again.out.splitlines() == [
        f"Verifying (checksum) {tmp_path}/mirror against {job.source}/ …",
        f"  ~ changed  {relative}",
        "verify failed: 1 difference",
    ]
    assert job.records("verify.finished")[-1]["run"] is None


def test_verify_on_demand_checks_the_latest_snapshot(snapshot_job: SnapshotJob, cli) -> None:  # type: ignore[no-untyped-def]
    snapshot_job.run()
    [snapshot] = snapshot_job.listing().complete
    gone = sorted((snapshot_job.destination / snapshot).rglob("*.txt"))[0]
    remove_quietly(gone)
    relative = gone.relative_to(snapshot_job.destination / snapshot).as_posix()

    result = cli(["verify", "docs", "--plan", str(snapshot_job.plan)])

    assert result.code == 1
    assert result.out.splitlines() == [
        f"Verifying (quick) snapshot {snapshot} ({snapshot_job.destination}/{snapshot}) against "
        f"{snapshot_job.source}/ …",
        f"  + missing  {relative}",
        "verify failed: 1 difference",
    ]
    [record] = snapshot_job.records("verify.finished")
    assert record["data"] == {
        "status": "failed", "differences": 1, "mode": "quick",
        "message": f"1 difference between source and destination (1 missing), e.g. {relative}",
    }  # fmt: skip
    (snapshot_job.destination / snapshot / relative).write_bytes(
        (snapshot_job.source / relative).read_bytes()
    )
    os.utime(
        snapshot_job.destination / snapshot / relative,
        ns=(0, (snapshot_job.source / relative).stat().st_mtime_ns),
    )
    assert cli(["verify", "docs", "--checksum", "--plan", str(snapshot_job.plan)]).code == 0
