"""Restores with the real rsync and rclone: the right tree comes back, and nothing is harmed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backupplan.journal import JobLock
from tests.snapshots import trees
from tests.snapshots.conftest import (
    SnapshotJob,
    _nothing_left_running,  # noqa: F401  (autouse)
    at,
)

SECOND = "2026-01-02T020000Z"


@pytest.fixture
def three_days(snapshot_job: SnapshotJob) -> tuple[SnapshotJob, dict[str, str]]:
    """Snapshots of three days of a changing tree, with each day's source digest."""
    digests = {}
    for day in (1, 2, 3):
        if day > 1:
            trees.mutate(snapshot_job.source, day=day)
        snapshot_job.run(at(f"2026-01-0{day} 02:00"))
        digests[f"2026-01-0{day}T020000Z"] = trees.digest(snapshot_job.source)
    return snapshot_job, digests


def restore(cli, job: SnapshotJob, *arguments: str):  # type: ignore[no-untyped-def]
    return cli(["restore", "docs", "--plan", str(job.plan), *arguments])


def test_an_older_snapshot_comes_back_as_that_day_s_source(three_days, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    job, digests = three_days
    target = tmp_path / "restored"

    result = restore(cli, job, "--snapshot", SECOND, "--to", str(target))

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"Restoring snapshot {SECOND} of docs ({job.destination}/{SECOND}) into {target}"
    assert lines[-1].startswith(f"Restored {len(list((job.destination / SECOND).rglob('*.txt')))} files (")
    assert trees.digest(target) == digests[SECOND] != trees.digest(job.source)
    assert not (target / ".backupplan-partial").exists()


def test_latest_is_the_default(three_days, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    job, digests = three_days
    assert restore(cli, job, "--to", str(tmp_path / "restored")).code == 0
    assert trees.digest(tmp_path / "restored") == digests["2026-01-03T020000Z"]


def test_a_non_empty_target_is_refused_unless_forced(snapshot_job: SnapshotJob, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    snapshot_job.run()
    target = tmp_path / "busy"
    target.mkdir()
    (target / "mine.txt").write_text("someone's file")
    one = sorted(snapshot_job.source.rglob("*.txt"))[0].relative_to(snapshot_job.source)
    (target / one).parent.mkdir(parents=True, exist_ok=True)
    (target / one).write_text("an older version")

    refused = restore(cli, snapshot_job, "--to", str(target))

    assert refused.code == 1
    assert refused.err == (
        f"backupplan: {target} is not empty: restoring there would replace files of the same name. Pass "
        "--force to do that (nothing in it is deleted), or restore into an empty folder\n"
    )
    assert (target / one).read_text() == "an older version"

    forced = restore(cli, snapshot_job, "--to", str(target), "--force")

    assert forced.code == 0, forced.err
    assert (target / one).read_bytes() == (snapshot_job.source / one).read_bytes()
    assert (target / "mine.txt").read_text() == "someone's file"  # nothing is deleted


@pytest.mark.parametrize("inside", ["backup/docs", "backup/docs/2026-somewhere", "backup"])
def test_a_target_overlapping_the_backup_is_refused(snapshot_job: SnapshotJob, cli, inside: str) -> None:  # type: ignore[no-untyped-def]
    snapshot_job.run()
    before = trees.digest(snapshot_job.root / "backup")
    target = snapshot_job.root / inside

    result = restore(cli, snapshot_job, "--to", str(target), "--force")

    assert result.code == 1
    assert result.err == (
        f"backupplan: refusing to restore into {target}: it overlaps the backup {snapshot_job.destination}, "
        "and a restore never writes into the backup; choose a folder outside it\n"
    )
    assert trees.digest(snapshot_job.root / "backup") == before


def test_one_path_comes_back_at_its_place(snapshot_job: SnapshotJob, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    snapshot_job.run()
    file = sorted((snapshot_job.source / "docs" / "2024").glob("*.txt"))[0]

    as_file = restore(cli, snapshot_job, "--to", str(tmp_path / "one"), "--path", f"docs/2024/{file.name}")
    as_folder = restore(cli, snapshot_job, "--to", str(tmp_path / "folder"), "--path", "/docs/2024/")

    assert as_file.code == 0 and as_folder.code == 0, as_file.err + as_folder.err
    assert [path.relative_to(tmp_path / "one").as_posix() for path in (tmp_path / "one").rglob("*")] == [
        "docs", "docs/2024", f"docs/2024/{file.name}",
    ]  # fmt: skip
    assert trees.digest(tmp_path / "folder" / "docs" / "2024") == trees.digest(
        snapshot_job.source / "docs" / "2024"
    )
    assert not (tmp_path / "folder" / "photos").exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "../etc/passwd",
            "--path '../etc/passwd' must name something inside the backup, relative to its top",
        ),
        ("/", "--path '/' must name something inside the backup, relative to its top"),
        ("nope/none.txt", "there is no nope/none.txt in snapshot"),
    ],
)
def test_a_path_outside_or_absent_is_refused(
    snapshot_job: SnapshotJob, cli, tmp_path: Path, path: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    snapshot_job.run()
    result = restore(cli, snapshot_job, "--to", str(tmp_path / "r"), "--path", path)
    assert result.code == 1
    assert message in result.err
    assert not (tmp_path / "r").exists()


def test_a_dry_run_lists_and_writes_nothing(snapshot_job: SnapshotJob, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    snapshot_job.run()
    [snapshot] = snapshot_job.listing().complete
    target = tmp_path / "would"

    result = restore(cli, snapshot_job, "--to", str(target), "--path", "code", "--dry-run")

    assert result.code == 0, result.err
    names = sorted(path.name for path in (snapshot_job.source / "code").glob("*.txt"))
    assert result.out.splitlines() == [
        f"Would restore code from snapshot {snapshot} of docs ({snapshot_job.destination}/{snapshot}) "
        f"into {target}",
        "  + new  code/",
        *(f"  + new  code/{name}" for name in names),
        f"{len(names) + 1} items would be written.",
        "Dry run: nothing was written.",
    ]
    assert not target.exists()


def test_a_restore_waits_for_no_run(snapshot_job: SnapshotJob, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    snapshot_job.run()
    with JobLock(snapshot_job.state_dir, "docs"):
        result = restore(cli, snapshot_job, "--to", str(tmp_path / "r"))
    assert result.code == 1
    assert "docs is already running (pid" in result.err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("engine", ["rsync", "rclone"])
def test_a_job_without_snapshots_restores_its_copy(engine: str, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    job = SnapshotJob(tmp_path)
    trees.generate(job.source, files=12)
    job.write_plan(engine=engine, destination="./mirror")
    assert job.run().status == "succeeded"

    whole = restore(cli, job, "--to", str(tmp_path / "whole"))
    part = restore(cli, job, "--to", str(tmp_path / "part"), "--path", "photos")
    refused = restore(cli, job, "--to", str(tmp_path / "x"), "--snapshot", "2026-01-01T020000Z")

    assert whole.code == 0 and part.code == 0, whole.err + part.err
    assert (
        whole.out.splitlines()[0] == f"Restoring the copy of docs at {tmp_path}/mirror into {tmp_path}/whole"
    )
    assert trees.digest(tmp_path / "whole") == trees.digest(job.source)
    assert sorted(path.name for path in (tmp_path / "part").iterdir()) == ["photos"]
    assert trees.digest(tmp_path / "part" / "photos") == trees.digest(job.source / "photos")
    assert refused.code == 1
    assert refused.err == (
        "backupplan: docs keeps no snapshots, only its current copy at ./mirror: leave --snapshot out to "
        "restore that\n"
    )
    shutil.rmtree(tmp_path / "whole")


@pytest.mark.slow
def test_an_rclone_job_restores_from_s3(tmp_path: Path, cli, moto_s3) -> None:  # type: ignore[no-untyped-def]
    job = SnapshotJob(tmp_path)
    trees.generate(job.source, files=12)
    job.write_plan(engine="rclone", destination="moto:backups/docs", env=moto_s3.env())
    assert job.run().status == "succeeded"

    whole = restore(cli, job, "--to", str(tmp_path / "whole"))
    one = sorted(job.source.glob("docs/*.txt"))[0].relative_to(job.source).as_posix()
    single = restore(cli, job, "--to", str(tmp_path / "single"), "--path", one)

    assert whole.code == 0 and single.code == 0, whole.err + single.err
    assert (
        whole.out.splitlines()[0] == f"Restoring the copy of docs at moto:backups/docs into {tmp_path}/whole"
    )
    assert {path.relative_to(tmp_path / "whole").as_posix(): path.read_bytes()
            for path in (tmp_path / "whole").rglob("*") if path.is_file()} == {
        path.relative_to(job.source).as_posix(): path.read_bytes() for path in job.source.rglob("*") if path.is_file()
    }  # fmt: skip
    assert [path.relative_to(tmp_path / "single").as_posix() for path in (tmp_path / "single").rglob("*")] == [
        "docs", one,
    ]  # fmt: skip
