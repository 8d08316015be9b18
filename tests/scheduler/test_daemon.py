"""The daemon in this process, under a clock the test moves: a clock jump forward, the DST
fall-back in the live loop, reloads (broken and good), the overdue notification. Real rsync on
local folders; APScheduler's own timers run on real time and stay out of the way."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backupplan.journal import Journal
from backupplan.scheduler.daemon import Daemon
from tests.receiver import Receiver
from tests.scheduler.conftest import utc
from tests.scheduler.daemon_harness import Harness, ShiftedClock, job_plan, until
from tests.trees import describe

BERLIN = ZoneInfo("Europe/Berlin")


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
