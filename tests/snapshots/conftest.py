"""A snapshot job in a scratch folder: its plan, source tree, real runs, and what they recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backupplan.runner import RunResult
from backupplan.snapshots import Listing, read_listing
from tests.procs import assert_nothing_left_running
from tests.snapshots import trees


@dataclass
class SnapshotJob:
    """One rsync snapshot job `docs`: source/ → backup/docs, state in .backupplan/."""

    root: Path
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def destination(self) -> Path:
        return self.root / "backup" / "docs"

    @property
    def plan(self) -> Path:
        return self.root / "backups.yaml"

    @property
    def state_dir(self) -> Path:
        return self.root / ".backupplan"

    def write_plan(self, **fields: Any) -> Path:
        """Write the plan (JSON is YAML) with the job's fields; `fields` replace or add to them."""
        self.job.update(fields)
        job = {"engine": "rsync", "source": "./source", "destination": "./backup/docs", **self.job}
        plan = {"version": 1, "settings": {"timezone": "UTC"}, "jobs": {"docs": job}}
        self.plan.write_text(json.dumps(plan, indent=2))
        return self.plan

    def run(self, now: datetime | None = None) -> RunResult:
        """Run the job once, in this process, with a real rsync; `now` names the snapshot."""
        from backupplan.journal import Journal
        from backupplan.plan.load import load_plan
        from backupplan.runner import Session

        loaded = load_plan(str(self.plan))
        journal = Journal.open(loaded.state_dir)
        clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
        try:
            return asyncio.run(Session(loaded, journal, clock=clock).run("docs"))
        finally:
            journal.close()

    def listing(self) -> Listing:
        return read_listing(self.destination)

    def records(self, kind: str) -> list[dict[str, Any]]:
        """The journal's records of one type, as decoded JSON."""
        lines = (self.state_dir / "journal.jsonl").read_text().splitlines()
        return [record for line in lines if (record := json.loads(line))["type"] == kind]

    def log(self, result: RunResult) -> str:
        assert result.log is not None
        return result.log.read_text()


def new_snapshot_job(root: Path) -> SnapshotJob:
    """A snapshot job with a generated source and `keep: {last: 30}`, plan written."""
    job = SnapshotJob(root)
    trees.generate(job.source)
    job.destination.parent.mkdir()
    job.write_plan(snapshots={"keep": {"last": 30}})
    return job


@pytest.fixture
def snapshot_job(tmp_path: Path) -> SnapshotJob:
    return new_snapshot_job(tmp_path)


def at(text: str) -> datetime:
    """`2026-01-01 02:00` as an aware UTC time."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def _nothing_left_running(tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves a process (rsync, cp, rm, backupplan) working on its files."""
    yield
    assert_nothing_left_running(tmp_path)
