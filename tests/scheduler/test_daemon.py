"""The daemon in this process, under a clock the test moves: a clock jump forward, the DST
fall-back in the live loop, reloads (broken and good), the overdue notification. Real rsync on
local folders; APScheduler's own timers run on real time and stay out of the way."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backupplan.commands.run import make_session
from backupplan.journal import Journal
from backupplan.plan.load import LoadedPlan
from backupplan.scheduler.applied import write_applied
from backupplan.scheduler.daemon import Daemon
from tests.receiver import Receiver
from tests.scheduler.conftest import World, utc
from tests.trees import build, describe

BERLIN = ZoneInfo("Europe/Berlin")


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


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    yield Harness(tmp_path)


def test_a_three_hour_jump_forward_catches_up_once(harness: Harness) -> None:
    plan = job_plan("0 * * * *")
    (harness.root / "backups.yaml").write_text(plan)
    clock = ShiftedClock(utc(2026, 3, 1, 10, 20))
    harness.history(plan, clock, [utc(2026, 3, 1, 10)], utc(2026, 3, 1, 9))

    async def body(daemon: Daemon) -> None:
        await asyncio.sleep(0.2)
        assert len(harness.records("run.started")) == 1  # nothing new: 10:00 ran already
        clock.jump(timedelta(hours=3))
        await until(lambda: bool(harness.records("run.finished")[1:]))

    assert harness.run(clock, body) == 0
    missed = [record["data"] for record in harness.records("slot.missed")]
    assert missed == [
        {"slot": f"2026-03-01T{hour}:00:00.000Z", "action": "run_once"} for hour in ("11", "12", "13")
    ]
    started = harness.records("run.started")
    assert [record["data"]["trigger"] for record in started] == ["schedule", "catch_up"]
    assert started[1]["data"]["slot"] == "2026-03-01T13:00:00.000Z"
    assert started[1]["ts"].startswith("2026-03-01T13:20:")  # the journal runs on the daemon's clock
    assert harness.records("run.finished")[-1]["data"]["status"] == "succeeded"
    assert describe(harness.root / "dst" / "photos") == describe(harness.root / "src")
    assert any("the clock jumped forward by 10800s" in message for message in harness.messages)


def test_the_live_loop_runs_a_daily_job_once_on_the_fall_back_day(harness: Harness) -> None:
    plan = job_plan("30 2 * * *", timezone="Europe/Berlin")
    (harness.root / "backups.yaml").write_text(plan)
    first = utc(2025, 10, 26, 0, 30).astimezone(BERLIN)  # 02:30 CEST
    second = utc(2025, 10, 26, 1, 30).astimezone(BERLIN)  # 02:30 CET, the same wall time again
    assert second.fold == 1
    clock = ShiftedClock(utc(2025, 10, 26, 0, 29))
    harness.history(plan, clock, [utc(2025, 10, 25, 0, 30)], utc(2025, 10, 1))

    async def body(daemon: Daemon) -> None:
        daemon.live.submitted("photos", first)  # what APScheduler reports as it fires
        await daemon.live.fire("photos")
        daemon.live.submitted("photos", second)
        await daemon.live.fire("photos")

    assert harness.run(clock, body) == 0
    started = harness.records("run.started")
    assert [(record["data"]["trigger"], record["data"]["slot"]) for record in started[1:]] == [
        ("schedule", "2025-10-26T00:30:00.000Z")
    ]
    skipped = [record["data"] for record in harness.records("run.skipped")]
    assert skipped == [
        {
            "reason": "dst",
            "message": "skipped: 02:30 had already run before the clocks went back (a job at a fixed time "
            "runs once per time of day)",
            "trigger": "schedule",
            "slot": "2025-10-26T01:30:00.000Z",
        }
    ]


def test_reload_keeps_the_old_plan_when_the_new_one_is_broken(harness: Harness) -> None:
    plan_file = harness.root / "backups.yaml"
    plan_file.write_text(job_plan("0 2 * * *"))
    clock = ShiftedClock(utc(2026, 3, 1, 12))

    async def body(daemon: Daemon) -> None:
        await harness.settle()  # the first apply runs photos (never run)
        digest = daemon.loaded.digest
        plan_file.write_text(job_plan("0 2 * * *").replace("engine: rsync", "engine: rsink"))
        daemon.request_reload("SIGHUP")
        await until(lambda: bool(harness.records("plan.rejected")))
        assert daemon.loaded.digest == digest
        plan_file.write_text(
            job_plan("0 2 * * *")
            + "  newcomer:\n    engine: rsync\n    source: src\n    destination: dst/new\n"
            + "    schedule: '@daily'\n"
        )
        daemon.request_reload("SIGHUP")
        await until(lambda: len(harness.records("run.finished")) == 2)

    assert harness.run(clock, body) == 0
    (rejected,) = harness.records("plan.rejected")
    assert rejected["data"]["reason"] == "SIGHUP"
    assert rejected["data"]["problems"] == [
        f"{harness.root}/backups.yaml:6:13: jobs.photos.engine: unknown engine 'rsink' "
        "(did you mean 'rsync'?)"
    ]
    assert any(
        "the plan was not reloaded (SIGHUP); the running plan stays in force:" in p for p in harness.problems
    )
    applied = harness.records("plan.applied")
    assert [record["data"]["added"] for record in applied] == [["photos"], ["newcomer"]]
    started = harness.records("run.started")
    assert [(record["job"], record["data"]["trigger"]) for record in started] == [
        ("photos", "apply"),
        ("newcomer", "apply"),
    ]


@pytest.mark.slow
def test_an_overdue_job_is_notified_once(harness: Harness, tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.thread.start()
    try:
        plan = job_plan(
            "0 2 * * *",
            extra_settings=f"  notify: [{{url: 'json://{receiver.url}/hook', on: [overdue]}}]\n",
            extra_job="    missed: skip\n",
        )
        (harness.root / "backups.yaml").write_text(plan)
        clock = ShiftedClock(utc(2026, 3, 4, 9))
        harness.history(plan, clock, [utc(2026, 3, 1, 2)], utc(2026, 3, 1))

        async def body(daemon: Daemon) -> None:
            await asyncio.sleep(1.0)  # five overdue checks

        assert harness.run(clock, body, overdue_every=0.2) == 0
        received = receiver.settle()
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=5)
    assert len(received) == 1
    message = received[0].json()
    assert "overdue" in (message.get("title", "") + message.get("message", "")).lower()
    sent = [record["data"]["event"] for record in harness.records("notify.sent")]
    assert sent == ["overdue"]
    assert [record["data"]["reason"] for record in harness.records("run.skipped")] == ["missed"] * 3
    assert harness.records("run.started")[1:] == []  # skip: nothing ran


def test_an_edited_plan_file_is_reloaded_without_a_signal(harness: Harness) -> None:
    plan_file = harness.root / "backups.yaml"
    plan_file.write_text(job_plan("0 2 * * *"))
    clock = ShiftedClock(utc(2026, 3, 1, 12))

    async def body(daemon: Daemon) -> None:
        await harness.settle()
        plan_file.write_text(job_plan("0 3 * * *"))
        await until(lambda: len(harness.records("plan.applied")) == 2, timeout=5)

    assert harness.run(clock, body) == 0
    (_, changed) = harness.records("plan.applied")
    assert (changed["data"]["changed"], changed["data"]["added"]) == (["photos"], [])
    assert "plan reloaded (the plan file changed)" in harness.messages
    assert harness.records("plan.rejected") == []


def test_a_resume_read_first_by_someone_else_still_catches_up(harness: Harness) -> None:
    """`backupplan resume` from another terminal, its record read by the daemon's journal before
    the loop looks (a catch-up, a dispatch or an append refreshes it too): the job still runs."""
    plan = job_plan("0 * * * *")
    (harness.root / "backups.yaml").write_text(plan)
    clock = ShiftedClock(utc(2026, 3, 1, 13, 20))
    harness.history(plan, clock, [], utc(2026, 3, 1, 9))  # never run: due as soon as it may run
    other = Journal.open(harness.state_dir)
    other.append("job.paused", job="photos", data={"by": "backupplan pause"})

    async def body(daemon: Daemon) -> None:
        await asyncio.sleep(0.3)
        assert harness.records("run.started") == []  # paused
        other.append("job.resumed", job="photos")
        daemon.journal.refresh()  # someone else in the daemon reads the new record first
        await until(lambda: bool(harness.records("run.finished")))

    try:
        assert harness.run(clock, body) == 0
    finally:
        other.close()
    started = harness.records("run.started")
    assert [record["data"]["trigger"] for record in started] == ["catch_up"]
