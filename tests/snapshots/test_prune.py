"""Retention of snapshots: which go (table-driven, simulated dates), how they go, what is journaled."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backupplan.plan.model import Keep
from backupplan.snapshots import Listing, PrunePlan, plan_prune, prune, read_listing, snapshot_id
from tests.snapshots import trees
from tests.snapshots.conftest import SnapshotJob, at

YEAR = [datetime(2025, 1, 1, 2, 0, tzinfo=UTC) + timedelta(days=day) for day in range(365)]
NEW_YEAR = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
MONTH_ENDS_2025 = ["02-28", "03-31", "04-30", "05-31", "06-30", "07-31", "08-31", "09-30", "10-31", "11-30"]


def listing_of(times: list[datetime]) -> Listing:
    return Listing(Path("/backup"), tuple(sorted(snapshot_id(moment) for moment in times)))


def days(plan: PrunePlan) -> list[str]:
    """The kept snapshots as `MM-DD` (or `YYYY-MM-DD` for other years than 2025), oldest first."""
    names = sorted(plan.kept)
    return [name[5:10] if name.startswith("2025") else name[:10] for name in names]


@pytest.mark.parametrize(
    ("times", "keep", "kept"),
    [
        (YEAR, Keep(last=3), ["12-29", "12-30", "12-31"]),
        (YEAR, Keep(), ["12-31"]),  # no rule at all: the newest stays
        (
            [*YEAR, NEW_YEAR],
            Keep(daily=7, weekly=4, monthly=12),
            # daily: 2026-01-01 and 12-26..12-31; weekly (ISO): 2026-01-01, 12-28, 12-21, 12-14;
            # monthly: 2026-01-01, 12-31 and the month ends back to February
            [*MONTH_ENDS_2025, "12-14", "12-21", "12-26", "12-27", "12-28", "12-29", "12-30", "12-31",
             "2026-01-01"],
        ),
        (
            [datetime(year, month, 1, tzinfo=UTC) for year in (2023, 2024, 2025) for month in range(1, 13)],
            Keep(yearly=2, monthly=2),
            ["2024-12-01", "11-01", "12-01"],
        ),
        (
            [datetime(2025, 6, 1, tzinfo=UTC) + timedelta(minutes=30 * step) for step in range(96)],
            Keep(hourly=3),
            ["06-02", "06-02", "06-02"],  # 21:30, 22:30, 23:30 on June 2nd
        ),
    ],
    ids=["last", "nothing", "a-year-then-new-year", "yearly", "hourly"],
)  # fmt: skip
def test_retention_over_simulated_dates(times: list[datetime], keep: Keep, kept: list[str]) -> None:
    plan = plan_prune(listing_of(times), keep, UTC)

    assert days(plan) == kept
    assert len(plan.remove) == len(times) - len(kept)
    assert set(plan.remove).isdisjoint(plan.kept)
    assert max(snapshot_id(moment) for moment in times) in plan.kept


def test_hourly_keeps_the_newest_of_each_hour() -> None:
    times = [datetime(2025, 6, 1, tzinfo=UTC) + timedelta(minutes=30 * step) for step in range(96)]
    plan = plan_prune(listing_of(times), Keep(hourly=3), UTC)
    assert sorted(plan.kept) == ["2025-06-02T213000Z", "2025-06-02T223000Z", "2025-06-02T233000Z"]
    assert plan.kept["2025-06-02T233000Z"] == ["hourly 1", "newest"]


def snapshot_folders(destination: Path, names: list[str]) -> None:
    for name in names:
        (destination / name).mkdir(parents=True)
        (destination / name / "note.txt").write_text(name)


def test_pruning_moves_to_the_trash_before_the_journal_hears_of_it(tmp_path: Path) -> None:
    names = [snapshot_id(moment) for moment in YEAR[-5:]]
    snapshot_folders(tmp_path, names)
    (tmp_path / ".trash-2024-01-01T020000Z").mkdir()  # left by a killed prune
    os.symlink(names[0], tmp_path / "latest")  # stale: a crash came between promotion and the link
    seen: list[tuple[PrunePlan, list[str]]] = []

    def moved(done: PrunePlan) -> None:
        seen.append((done, sorted(os.listdir(tmp_path))))

    plan = plan_prune(read_listing(tmp_path), Keep(last=2), UTC)
    result = asyncio.run(prune(plan, on_moved=moved))

    assert result.removed == tuple(names[:3])
    assert result.deleted == 4 and result.error is None
    [(done, at_that_time)] = seen
    assert done.remove == tuple(names[:3])
    assert at_that_time == sorted(
        [".trash-2024-01-01T020000Z", *(f".trash-{name}" for name in names[:3]), *names[3:], "latest"]
    )
    assert sorted(os.listdir(tmp_path)) == [*names[3:], "latest"]
    assert os.readlink(tmp_path / "latest") == names[-1]
    assert done.record() == {
        "ids": names[:3],
        "kept": {names[4]: ["last 1", "newest"], names[3]: ["last 2"]},
    }


def test_a_year_of_daily_snapshots_then_a_run_keeps_exactly_the_expected_set(tmp_path: Path) -> None:
    job = SnapshotJob(tmp_path)
    trees.generate(job.source, files=10)
    job.destination.parent.mkdir()
    job.write_plan(snapshots={"keep": {"daily": 7, "weekly": 4, "monthly": 12}})
    assert job.run(YEAR[-1]).status == "succeeded"  # 2025-12-31: a real snapshot to clone
    snapshot_folders(job.destination, [snapshot_id(moment) for moment in YEAR[:-1]])

    result = job.run(NEW_YEAR)

    assert result.status == "succeeded"
    kept = [name[:10] for name in job.listing().complete]
    expected = [*(f"2025-{day}" for day in MONTH_ENDS_2025), "2025-12-14", "2025-12-21",
                *(f"2025-12-{day}" for day in range(26, 32)), "2026-01-01"]  # fmt: skip
    assert kept == expected
    assert job.listing().trash == () and job.listing().latest == "2026-01-01T020000Z"
    [pruned] = job.records("snapshot.pruned")
    assert pruned["run"] == result.run
    assert len(pruned["data"]["ids"]) == 366 - 19
    assert set(pruned["data"]["ids"]) == {snapshot_id(moment) for moment in YEAR} - {
        f"{day}T020000Z" for day in expected
    }
    assert pruned["data"]["kept"]["2026-01-01T020000Z"] == ["daily 1", "weekly 1", "monthly 1", "newest"]
    assert pruned["data"]["kept"]["2025-12-14T020000Z"] == ["weekly 4"]
    assert f"pruned 347 snapshot(s): {pruned['data']['ids'][0]}," in job.log(result)


def test_the_newest_is_kept_however_few_the_rules_keep(snapshot_job: SnapshotJob) -> None:
    snapshot_job.write_plan(snapshots={"keep": {"daily": 1}})
    for hour in ("02:00", "03:00", "04:00"):
        snapshot_job.run(at(f"2026-01-01 {hour}"))
    assert snapshot_job.listing().complete == ("2026-01-01T040000Z",)
    assert [record["data"]["ids"] for record in snapshot_job.records("snapshot.pruned")] == [
        ["2026-01-01T020000Z"],
        ["2026-01-01T030000Z"],
    ]
