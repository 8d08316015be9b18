"""RELIABILITY case 24: rsync silently makes a full copy when it cannot link; backupplan says so."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backupplan.engines import TransferSpec, get_engine
from backupplan.process.execute import run_process
from backupplan.snapshots import link_problem
from tests.snapshots import trees
from tests.snapshots.conftest import SnapshotJob, at

FIRST, SECOND = "2026-01-01T020000Z", "2026-01-02T020000Z"


def rsync(spec: TransferSpec) -> tuple[int | None, tuple[str, ...]]:
    """Run the real rsync for `spec`; return its exit code and the warnings its parser kept."""
    engine = get_engine("rsync")
    parser = engine.parser()
    result = asyncio.run(
        run_process(
            engine.argv(spec),
            env=dict(os.environ),
            on_stdout=lambda record: parser.feed(record, "stdout"),
            on_stderr=lambda record: parser.feed(record, "stderr"),
            timeout=30,
        )
    )
    return result.exit_code, parser.stats().warnings


def test_a_missing_link_dest_is_reported(tmp_path: Path) -> None:
    source = trees.generate(tmp_path / "source", files=10)
    missing = tmp_path / "backup" / FIRST
    missing.parent.mkdir()
    spec = TransferSpec(str(source) + "/", str(tmp_path / "backup" / SECOND), link_dest=str(missing))

    code, warnings = rsync(spec)

    assert code == 0  # rsync calls it a success
    assert warnings == (f"--link-dest arg does not exist: {missing}",)
    assert link_problem(tmp_path / "backup" / SECOND, missing, warnings) == (
        f"snapshot {SECOND} may be a full copy: rsync: --link-dest arg does not exist: {missing}"
    )


def test_linked_snapshots_have_no_problem_and_copies_do(tmp_path: Path) -> None:
    first = trees.generate(tmp_path / FIRST, files=20)
    linked, copied = tmp_path / "linked", tmp_path / "copied"
    subprocess.run(["cp", "-al", str(first), str(linked)], check=True)
    shutil.copytree(first, copied)  # copy2 keeps sizes, times and modes: unchanged, but not shared

    assert link_problem(linked, first) is None
    assert link_problem(copied, first) == (
        f"snapshot copied is a full copy: none of 20 unchanged files checked is hard-linked to {FIRST}, so "
        f"it takes the full space; is {FIRST} on another filesystem, or does the destination's filesystem "
        "lack hard links?"
    )
    half = sorted(path for path in linked.rglob("*.txt"))[:5]
    for path in half:  # break five links, keeping everything else about the files
        data, status = path.read_bytes(), path.stat()
        path.unlink()
        path.write_bytes(data)
        path.chmod(0o644)
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert link_problem(linked, first) == (
        f"snapshot linked shares only 15 of 20 unchanged files checked with {FIRST}: "
        "the others take full space"
    )


@pytest.fixture
def previous_snapshot_elsewhere(snapshot_job: SnapshotJob) -> Iterator[SnapshotJob]:
    """A first snapshot, then moved onto another filesystem (a tmpfs mounted in its place): nothing
    can be hard-linked to it any more, and rsync's --link-dest quietly copies instead."""
    snapshot_job.run(at("2026-01-01 02:00"))
    first = snapshot_job.destination / FIRST
    aside = snapshot_job.root / "aside"
    first.rename(aside)
    first.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(first)], check=True)
    try:
        subprocess.run(["cp", "-a", f"{aside}/.", str(first)], check=True)
        yield snapshot_job
    finally:
        subprocess.run(["umount", "--lazy", str(first)], check=True)


@pytest.mark.slow
def test_a_snapshot_that_became_a_full_copy_makes_the_run_a_warning(
    previous_snapshot_elsewhere: SnapshotJob,
) -> None:
    job = previous_snapshot_elsewhere
    trees.mutate(job.source, day=1)

    result = job.run(at("2026-01-02 02:00"))

    assert result.status == "warning"
    assert result.reason is not None
    assert result.reason.startswith(f"snapshot {SECOND} is a full copy: none of ")
    assert f"is hard-linked to {FIRST}, so it takes the full space" in result.reason
    assert trees.digest(job.destination / SECOND) == trees.digest(job.source)  # the backup is still good
    finished = job.records("run.finished")[-1]["data"]
    assert (finished["status"], finished["reason"]) == ("warning", result.reason)
    log = job.log(result)
    assert f"could not clone {FIRST} (cp: cannot create hard link" in log
    assert "Invalid cross-device link" in log
