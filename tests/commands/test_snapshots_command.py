"""`backupplan snapshots JOB`: the listing people read, its JSON, and pruning by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.snapshots import trees
from tests.snapshots.conftest import SnapshotJob, at, new_snapshot_job


@pytest.fixture
def snapshot_job(tmp_path: Path) -> SnapshotJob:
    return new_snapshot_job(tmp_path)


@pytest.fixture
def three_snapshots(snapshot_job: SnapshotJob) -> SnapshotJob:
    """Three days of a changing tree, an interrupted run's .partial and a killed prune's trash."""
    for day in (1, 2, 3):
        if day > 1:
            trees.mutate(snapshot_job.source, day=day)
        snapshot_job.run(at(f"2026-01-0{day} 02:00"))
    (snapshot_job.destination / "2026-01-04T020000Z.partial").mkdir()
    (snapshot_job.destination / ".trash-2025-12-01T020000Z").mkdir()
    return snapshot_job


def shown(text: str, job: SnapshotJob) -> str:
    return text.replace(str(job.root), "<tmp>")


def test_listing(three_snapshots: SnapshotJob, cli, snapshot) -> None:  # type: ignore[no-untyped-def]
    result = cli(["snapshots", "docs", "--plan", str(three_snapshots.plan)])
    assert result.code == 0, result.err
    assert shown(result.out, three_snapshots) == snapshot


def test_listing_as_json(three_snapshots: SnapshotJob, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["snapshots", "docs", "--json", "--plan", str(three_snapshots.plan)])

    document = json.loads(result.out)
    first = three_snapshots.destination / "2026-01-01T020000Z"
    sizes = [path.stat().st_size for path in first.rglob("*") if path.is_file()]
    assert document["format"] == 1
    assert document["destination"] == str(three_snapshots.destination)
    assert [entry["id"] for entry in document["snapshots"]] == [
        "2026-01-01T020000Z", "2026-01-02T020000Z", "2026-01-03T020000Z",
    ]  # fmt: skip
    assert document["snapshots"][0] == {
        "id": "2026-01-01T020000Z", "time": "2026-01-01T02:00:00Z", "files": len(sizes), "bytes": sum(sizes),
        "unique_bytes": document["snapshots"][0]["unique_bytes"], "latest": False,
    }  # fmt: skip
    assert [entry["latest"] for entry in document["snapshots"]] == [False, False, True]
    assert 0 < document["snapshots"][0]["unique_bytes"] < sum(sizes) / 2
    assert document["partial"] == ["2026-01-04T020000Z.partial"]
    assert document["trash"] == [".trash-2025-12-01T020000Z"]


def test_prune_dry_run_says_what_would_go_and_why_the_rest_stays(
    three_snapshots: SnapshotJob, cli, snapshot
) -> None:  # type: ignore[no-untyped-def]
    three_snapshots.write_plan(snapshots={"keep": {"last": 1, "daily": 2}})
    before = sorted(os.listdir(three_snapshots.destination))

    result = cli(["snapshots", "docs", "--prune", "--dry-run", "--plan", str(three_snapshots.plan)])

    assert result.code == 0, result.err
    assert result.out == snapshot
    assert sorted(os.listdir(three_snapshots.destination)) == before


def test_prune_now(three_snapshots: SnapshotJob, cli) -> None:  # type: ignore[no-untyped-def]
    three_snapshots.write_plan(snapshots={"keep": {"daily": 2}})

    result = cli(["snapshots", "docs", "--prune", "--plan", str(three_snapshots.plan)])

    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == "Removed 1 snapshot."
    listing = three_snapshots.listing()
    assert listing.complete == ("2026-01-02T020000Z", "2026-01-03T020000Z")
    assert listing.trash == ()  # the killed prune's trash went too
    assert listing.partial == ("2026-01-04T020000Z",)  # the next run's to take over
    [record] = three_snapshots.records("snapshot.pruned")
    assert (record["job"], record["run"]) == ("docs", None)
    assert record["data"] == {
        "ids": ["2026-01-01T020000Z"],
        "kept": {"2026-01-03T020000Z": ["daily 1", "newest"], "2026-01-02T020000Z": ["daily 2"]},
    }


def test_a_job_without_snapshots_says_so(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    job = SnapshotJob(tmp_path)
    job.write_plan(destination="./mirror")
    result = cli(["snapshots", "docs", "--plan", str(job.plan)])
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "backupplan: docs keeps no snapshots: it has one copy, at ./mirror (add `snapshots:` to an rsync job "
        "with a local or ssh destination to keep dated snapshots)\n"
    )


def test_dry_run_goes_with_prune(snapshot_job: SnapshotJob, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["snapshots", "docs", "--dry-run", "--plan", str(snapshot_job.plan)])
    assert result.code == 2
    assert "--dry-run goes with --prune" in result.err


def test_an_empty_destination(snapshot_job: SnapshotJob, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["snapshots", "docs", "--plan", str(snapshot_job.plan)])
    assert (
        shown(result.out, snapshot_job)
        == "Snapshots of docs in <tmp>/backup/docs:\n\nNo complete snapshot yet.\n"
    )
