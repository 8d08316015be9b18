"""Snapshot runs with the real rsync: hard-link sharing, untouched older snapshots, leftovers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from backupplan.snapshots.layout import PARTIAL_SUFFIX
from tests.snapshots import trees
from tests.snapshots.conftest import SnapshotJob, at

FIRST, SECOND = "2026-01-01T020000Z", "2026-01-02T020000Z"


def du_kib(*paths: Path) -> int:
    """Disk use in KiB as `du` counts it: a file hard-linked from several paths counts once."""
    output = subprocess.run(["du", "-s", "-k", "-c", *map(str, paths)], capture_output=True, check=True)
    return int(output.stdout.decode().splitlines()[-1].split()[0])


def test_two_snapshots_of_a_mutated_tree_share_their_unchanged_files(snapshot_job: SnapshotJob) -> None:
    first = snapshot_job.run(at("2026-01-01 02:00"))
    first_digest = trees.digest(snapshot_job.source)
    changes = trees.mutate(snapshot_job.source, day=1)
    second = snapshot_job.run(at("2026-01-02 02:00"))

    assert (first.status, second.status) == ("succeeded", "succeeded")
    listing = snapshot_job.listing()
    assert listing.complete == (FIRST, SECOND)
    assert (listing.partial, listing.trash, listing.latest) == ((), (), SECOND)
    old, new = snapshot_job.destination / FIRST, snapshot_job.destination / SECOND
    assert trees.digest(old) == first_digest
    assert trees.digest(new) == trees.digest(snapshot_job.source)
    assert trees.digest(snapshot_job.destination / "latest") == trees.digest(new)

    touched = set(changes["changed"]) | set(changes["deleted"])
    for path in old.rglob("*.txt"):
        relative = path.relative_to(old).as_posix()
        if relative in touched:
            assert not (new / relative).exists() or (new / relative).stat().st_ino != path.stat().st_ino
        else:
            assert (new / relative).stat().st_ino == path.stat().st_ino, relative
    for relative in changes["deleted"]:
        assert (old / relative).exists() and not (new / relative).exists()

    alone, together = du_kib(old), du_kib(old, new)
    assert together - alone < alone / 2, f"the second snapshot costs {together - alone} KiB of {alone}"


def test_snapshot_records_are_journaled(snapshot_job: SnapshotJob) -> None:
    snapshot_job.run(at("2026-01-01 02:00"))
    trees.mutate(snapshot_job.source, day=1)
    second = snapshot_job.run(at("2026-01-02 02:00"))

    files = sorted(path for path in snapshot_job.source.rglob("*") if path.is_file())
    records = snapshot_job.records("snapshot.created")
    assert [record["data"] for record in records] == [
        {"id": FIRST, "path": str(snapshot_job.destination / FIRST), "linked_to": None, "method": "full",
         "files": 60, "bytes": records[0]["data"]["bytes"]},
        {"id": SECOND, "path": str(snapshot_job.destination / SECOND), "linked_to": FIRST, "method": "clone",
         "files": len(files), "bytes": sum(path.stat().st_size for path in files)},
    ]  # fmt: skip
    assert records[1]["run"] == second.run
    log = snapshot_job.log(second)
    assert f"snapshot {SECOND}: cloned {FIRST} with hard links into {SECOND}{PARTIAL_SUFFIX}" in log
    assert f"snapshot {SECOND} complete (cloned from {FIRST} with hard links, then updated)" in log


def test_an_attribute_change_never_reaches_the_older_snapshot(snapshot_job: SnapshotJob) -> None:
    """rsync changes permissions and owners in place; in a clone that would write through the
    shared inode into the older snapshot. The file is unlinked from the clone first."""
    snapshot_job.run(at("2026-01-01 02:00"))
    target = next(iter(sorted(snapshot_job.source.rglob("*.txt"))))
    relative = target.relative_to(snapshot_job.source)
    target.chmod(0o600)
    os.chown(target, 4321, 4321)
    result = snapshot_job.run(at("2026-01-02 02:00"))

    assert result.status == "succeeded"
    old = (snapshot_job.destination / FIRST / relative).stat()
    new = (snapshot_job.destination / SECOND / relative).stat()
    assert (old.st_mode & 0o777, old.st_uid) == (0o644, 0)
    assert (new.st_mode & 0o777, new.st_uid) == (0o600, 4321)
    assert old.st_ino != new.st_ino
    assert "1 file(s) changed only their attributes: unlinked from the clone" in snapshot_job.log(result)


def test_a_pattern_excluded_later_does_not_live_on_in_the_clones(snapshot_job: SnapshotJob) -> None:
    snapshot_job.run(at("2026-01-01 02:00"))
    snapshot_job.write_plan(exclude=["photos/"])
    snapshot_job.run(at("2026-01-02 02:00"))

    assert (snapshot_job.destination / FIRST / "photos").is_dir()
    assert not (snapshot_job.destination / SECOND / "photos").exists()


def test_the_destination_folder_is_made_but_never_its_missing_parent(tmp_path: Path) -> None:
    job = SnapshotJob(tmp_path)
    trees.generate(job.source, files=5)
    job.write_plan(snapshots={}, destination="./unmounted-disk/docs")

    result = job.run(at("2026-01-01 02:00"))

    assert result.status == "failed"
    assert result.reason == (
        f"the destination's parent folder {tmp_path}/unmounted-disk does not exist: is the disk mounted? "
        "(backupplan does not create it, so that a backup never fills the system disk) (no snapshot was made)"
    )
    assert not (tmp_path / "unmounted-disk").exists()
    (tmp_path / "unmounted-disk").mkdir()
    assert job.run(at("2026-01-01 03:00")).status == "succeeded"
    assert (tmp_path / "unmounted-disk" / "docs").stat().st_mode & 0o777 == 0o700


def test_a_failed_run_leaves_a_partial_that_the_next_run_completes(snapshot_job: SnapshotJob) -> None:
    snapshot_job.run(at("2026-01-01 02:00"))
    changes = trees.mutate(snapshot_job.source, day=1)
    snapshot_job.write_plan(extra_args=["--no-such-option"])  # rsync fails once the folder is staged

    failed = snapshot_job.run(at("2026-01-02 02:00"))

    assert failed.status == "failed"
    assert failed.reason is not None and failed.reason.startswith("exit 1:")
    listing = snapshot_job.listing()
    assert (listing.complete, listing.partial, listing.latest) == ((FIRST,), (SECOND,), FIRST)
    assert snapshot_job.records("snapshot.created")[-1]["data"]["id"] == FIRST

    snapshot_job.write_plan(extra_args=[])
    temporary = snapshot_job.destination / f"{SECOND}{PARTIAL_SUFFIX}" / "docs" / ".f0003.txt.Xy12Ab"
    temporary.parent.mkdir(exist_ok=True)
    temporary.write_text("what a killed rsync leaves while it writes")
    done = snapshot_job.run(at("2026-01-03 02:00"))

    third = "2026-01-03T020000Z"
    assert done.status == "succeeded"
    listing = snapshot_job.listing()
    assert (listing.complete, listing.partial, listing.latest) == ((FIRST, third), (), third)
    assert trees.digest(snapshot_job.destination / third) == trees.digest(snapshot_job.source)
    log = snapshot_job.log(done)
    assert f"snapshot {third}: taking over {SECOND}.partial, left by an interrupted run (1 unfinished" in log
    created = snapshot_job.records("snapshot.created")[-1]["data"]
    assert (created["id"], created["linked_to"], created["method"]) == (third, FIRST, "link-dest")
    touched = {*changes["changed"], *changes["deleted"]}
    first = snapshot_job.destination / FIRST
    unchanged = [path for path in first.rglob("*.txt") if path.relative_to(first).as_posix() not in touched]
    for path in unchanged:  # linked by rsync's --link-dest, since there was no clone to take over
        assert (
            snapshot_job.destination / third / path.relative_to(first)
        ).stat().st_ino == path.stat().st_ino


def test_snapshots_of_a_job_with_verify_are_checked_before_pruning(snapshot_job: SnapshotJob) -> None:
    """Bit rot in the backup (same size and time, other bytes) is shared by the clone and skipped by
    rsync's quick check: only checksum verification sees it. The run fails and nothing is pruned."""
    snapshot_job.write_plan(snapshots={"keep": {"last": 1}}, verify="checksum")
    assert snapshot_job.run(at("2026-01-01 02:00")).status == "succeeded"
    rotten = next(
        iter(sorted((snapshot_job.destination / FIRST).rglob("*.txt"), key=lambda p: -p.stat().st_size))
    )
    status = rotten.stat()
    data = bytearray(rotten.read_bytes())
    data[0] ^= 0xFF
    rotten.write_bytes(bytes(data))
    os.utime(rotten, ns=(status.st_atime_ns, status.st_mtime_ns))

    result = snapshot_job.run(at("2026-01-02 02:00"))

    assert (result.status, result.reason) == (
        "failed",
        "verify failed: 1 difference (the differences are listed in the run's log)",
    )
    relative = rotten.relative_to(snapshot_job.destination / FIRST).as_posix()
    assert f"[verify] ~ changed  {relative}" in snapshot_job.log(result)
    assert snapshot_job.listing().complete == (FIRST, SECOND)  # promoted, but nothing pruned
    assert snapshot_job.records("snapshot.pruned") == []
    verified = snapshot_job.records("verify.finished")
    assert [record["data"] for record in verified] == [
        {"status": "ok", "differences": 0, "mode": "checksum", "message": "no differences"},
        {"status": "failed", "differences": 1, "mode": "checksum",
         "message": f"1 difference between source and destination (1 changed), e.g. {relative}"},
    ]  # fmt: skip
    assert verified[1]["run"] == result.run


def test_a_snapshot_job_without_keep_keeps_everything(snapshot_job: SnapshotJob) -> None:
    snapshot_job.write_plan(snapshots={})
    for day in range(1, 4):
        snapshot_job.run(at(f"2026-01-0{day} 02:00"))
    assert len(snapshot_job.listing().complete) == 3
    assert snapshot_job.records("snapshot.pruned") == []


def test_a_run_cleans_the_trash_a_killed_prune_left(snapshot_job: SnapshotJob) -> None:
    snapshot_job.run(at("2026-01-01 02:00"))
    trash = snapshot_job.destination / ".trash-2025-12-01T020000Z"
    shutil.copytree(snapshot_job.source, trash)
    snapshot_job.run(at("2026-01-02 02:00"))
    assert not trash.exists()
    assert snapshot_job.listing().trash == ()
