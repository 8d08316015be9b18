"""A plan in tmp_path and a journal written under a settable clock: the scheduler's world."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backupplan.journal import Journal
from backupplan.plan.load import LoadedPlan, load_plan
from backupplan.scheduler.applied import Applied
from tests.journal.helpers import Clock, run_once


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class World:
    """`plan(jobs)` writes and loads a plan; `at(moment)` sets the journal's clock; `ran(...)`
    journals a whole run; `applied()` is the plan as `apply` records it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = Clock(utc(2026, 1, 1))
        self._journal: Journal | None = None
        self.loaded: LoadedPlan | None = None

    def plan(self, jobs: str, settings: str = "  timezone: Europe/Berlin\n") -> LoadedPlan:
        (self.root / "src").mkdir(exist_ok=True)
        text = f"version: 1\nsettings:\n{settings}jobs:\n{jobs}"
        path = self.root / "backups.yaml"
        path.write_text(text)
        self.loaded = load_plan(str(path))
        return self.loaded

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            assert self.loaded is not None
            self._journal = Journal.open(self.loaded.state_dir, clock=self.clock)
        return self._journal

    def at(self, moment: datetime) -> World:
        self.clock.now = moment
        return self

    def ran(
        self,
        job: str,
        at: datetime,
        *,
        status: str = "succeeded",
        trigger: str = "schedule",
        seconds: float = 60,
    ) -> str:
        run = f"{at:%Y%m%dT%H%M%SZ}-{job[:4]}"
        self.at(at)
        run_once(self.journal, job, run, self.clock, status=status, trigger=trigger, seconds=seconds,
                 exit_code=0 if status == "succeeded" else 23)  # fmt: skip
        return run

    def append(self, type: str, at: datetime, **fields: Any) -> None:
        self.at(at)
        self.journal.append(type, **fields)

    def applied(self, at: datetime | None = None) -> Applied:
        assert self.loaded is not None
        if at is not None:
            self.append(
                "plan.applied", at, data={"digest": self.loaded.digest, "jobs": list(self.loaded.jobs)}
            )
        return Applied(self.loaded.digest, str(self.loaded.path), "", self.loaded.normalized())

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.close()


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    """A daemon in this process under a test clock (tests.scheduler.daemon_harness)."""
    from tests.scheduler.daemon_harness import Harness

    return Harness(tmp_path)
