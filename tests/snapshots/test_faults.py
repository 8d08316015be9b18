"""RELIABILITY case 7: kill -9 while a snapshot is written or while old ones are pruned; nothing
under a snapshot's name is ever half a tree, and the next run completes the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import backupplan_env
from tests.procs import processes_mentioning
from tests.snapshots import trees
from tests.snapshots.conftest import SnapshotJob, at

pytestmark = pytest.mark.slow


def start(job: SnapshotJob, *arguments: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "backupplan", *arguments, "--plan", str(job.plan)],
        env=backupplan_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition, timeout: float = 20.0, step: float = 0.005) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


def kill_9(process: subprocess.Popen[bytes], root: Path) -> None:
    """SIGKILL backupplan; its children (rsync, cp, rm) must die with it within 2 s."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=5)
    deadline = time.monotonic() + 2
    while processes_mentioning(str(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(str(root)) == []


def run_cli(job: SnapshotJob, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backupplan", *arguments, "--plan", str(job.plan)],
        env=backupplan_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_kill_9_mid_snapshot_then_a_rerun_gives_one_new_complete_snapshot(tmp_path: Path) -> None:
    job = SnapshotJob(tmp_path)
    trees.generate(job.source, files=40, large=2 << 20)
    job.destination.parent.mkdir()
    job.write_plan(snapshots={"keep": {"last": 10}})
    assert job.run().status == "succeeded"
    [first] = job.listing().complete
    first_digest = trees.digest(job.destination / first)
    trees.mutate(job.source, day=1)
    (job.source / "big.bin").write_bytes(os.urandom(2 << 20))  # 2 MiB to copy at 512 KiB/s
    job.write_plan(bandwidth="512KiB")

    process = start(job, "run", "docs")
    try:
        wait_for(lambda: any(job.destination.glob("*.partial/.big.bin.*")))  # rsync is writing
        time.sleep(0.5)
    finally:
        kill_9(process, tmp_path)

    listing = job.listing()
    assert listing.complete == (first,) and listing.latest == first
    [unfinished] = listing.partial
    assert trees.digest(job.destination / first) == first_digest
    listed = run_cli(job, "snapshots", "docs")
    assert listed.returncode == 0, listed.stderr
    assert f"Unfinished: {unfinished}.partial (an interrupted run: not a snapshot;" in listed.stdout
    assert f"{unfinished} " not in listed.stdout.split("Unfinished")[0]

    job.write_plan(bandwidth=0)
    rerun = run_cli(job, "run", "docs")

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    listing = job.listing()
    assert len(listing.complete) == 2 and listing.partial == () and listing.trash == ()
    second = listing.complete[1]
    assert listing.latest == second
    assert trees.digest(job.destination / second) == trees.digest(job.source)
    assert trees.digest(job.destination / first) == first_digest
    assert not list((job.destination / second).rglob(".big.bin.*"))
    crashed = [record for record in job.records("run.interrupted") if record["data"]["reason"] == "crash"]
    assert len(crashed) == 1
    created = job.records("snapshot.created")[-1]["data"]
    assert (created["id"], created["linked_to"]) == (second, first)


def test_kill_9_during_pruning_never_leaves_half_a_tree_under_a_snapshot_name(tmp_path: Path) -> None:
    job = SnapshotJob(tmp_path)
    trees.generate(job.source, files=1500)
    job.destination.parent.mkdir()
    job.write_plan(snapshots={"keep": {"last": 1}})
    assert job.run(at("2026-01-01 02:00")).status == "succeeded"
    newest = "2026-01-01T020000Z"
    reference = trees.digest(job.destination / newest)
    mid_delete = 0
    for delay in (0.02, 0.06, 0.12):
        old = [f"2025-{month:02d}-{day:02d}T020000Z" for month in (6, 7) for day in range(1, 16)]
        for name in old:
            subprocess.run(
                ["cp", "-al", str(job.destination / newest), str(job.destination / name)], check=True
            )

        process = start(job, "snapshots", "docs", "--prune")
        try:
            wait_for(lambda: bool(job.listing().trash))
            time.sleep(delay)
        finally:
            kill_9(process, tmp_path)

        listing = job.listing()
        for name in listing.complete:  # every snapshot name holds a whole snapshot
            assert trees.digest(job.destination / name) == reference, name
        if any(len(list((job.destination / name).rglob("*.txt"))) < 1500 for name in listing.trash):
            mid_delete += 1

        done = run_cli(job, "snapshots", "docs", "--prune")
        assert done.returncode == 0, done.stderr
        listing = job.listing()
        assert (listing.complete, listing.trash, listing.latest) == ((newest,), (), newest)
    print(f"{mid_delete} of 3 kills landed mid-delete")
    assert mid_delete >= 1, "no kill landed while a snapshot was being deleted: the test proves little"
