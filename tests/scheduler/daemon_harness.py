"""A daemon in this process under a clock the test moves, for the daemon's tests: write a plan
and a history, run the daemon until the test's body returns, read its journal."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from backupplan.commands.run import make_session
from backupplan.journal import Journal
from backupplan.plan.load import LoadedPlan
from backupplan.scheduler.applied import write_applied
from backupplan.scheduler.daemon import Daemon
from tests.scheduler.conftest import World
from tests.trees import build


class ShiftedClock:
    """Real time, started at `start`; `jump()` moves the wall clock alone (a suspend)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.began = time.monotonic()
        self.offset = timedelta()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began) + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def __call__(self) -> datetime:
        return self.now()

    def jump(self, delta: timedelta) -> None:
        self.offset += delta


def journal_records(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / "journal.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def job_plan(schedule: str, *, timezone: str = "UTC", extra_settings: str = "", extra_job: str = "") -> str:
    return (
        f"version: 1\nsettings:\n  timezone: {timezone}\n{extra_settings}"
        "jobs:\n  photos:\n    engine: rsync\n    source: src\n    destination: dst/photos\n"
        f'    schedule: "{schedule}"\n{extra_job}'
    )


class Harness:
    """Writes the plan and a history, then runs a Daemon in an event loop until told to stop."""

    def __init__(self, root: Path) -> None:
        self.root = root
        build(root / "src", {b"a.txt": b"alpha\n", b"b/c.txt": b"gamma\n"})
        (root / "dst").mkdir()
        self.messages: list[str] = []
        self.problems: list[str] = []
        self.daemon: Daemon | None = None

    @property
    def state_dir(self) -> Path:
        return self.root / ".backupplan"

    def history(
        self, plan_text: str, clock: ShiftedClock, runs: list[datetime], applied_at: datetime
    ) -> None:
        """Apply `plan_text` at `applied_at` and journal a succeeded run at each of `runs`."""
        world = World(self.root)
        world.plan(plan_text.split("jobs:\n", 1)[1], settings=_settings_of(plan_text))
        assert world.loaded is not None
        world.applied(applied_at)
        write_applied(world.loaded, applied_at)
        for start in runs:
            world.ran("photos", start, seconds=20)
        world.close()

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = journal_records(self.state_dir)
        return [record for record in found if kind is None or record["type"] == kind]

    def run(self, clock: ShiftedClock, body: Callable[[Daemon], Any], **options: Any) -> int:
        def session(loaded: LoadedPlan, journal: Journal) -> Any:
            return make_session(loaded, journal, lambda event: None)

        daemon = Daemon(
            str(self.root / "backups.yaml"),
            make_session=session,
            clock=clock,
            on_message=self.messages.append,
            on_problem=self.problems.append,
            tick=0.05,
            handle_signals=False,
            **options,
        )
        self.daemon = daemon

        async def main() -> int:
            task = asyncio.create_task(daemon.run())
            try:
                await until(lambda: bool(self.records("daemon.started")) and daemon.live.running)
                await body(daemon)
            finally:
                daemon.request_stop("test")
            return await asyncio.wait_for(task, 20)

        return asyncio.run(main())

    async def settle(self) -> None:
        """Wait until the daemon runs nothing."""
        assert self.daemon is not None
        daemon = self.daemon
        await until(lambda: not daemon.dispatcher.active)


def _settings_of(plan_text: str) -> str:
    return plan_text.split("settings:\n", 1)[1].split("jobs:\n", 1)[0]


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)
