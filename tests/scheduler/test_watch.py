"""The daemon keeps watch even when nothing runs: overdue episodes journaled without any
notification target (paused jobs too), status.json refreshed by a heartbeat, settings.heartbeat
pinged; `apply` (the OS timers' route) does the same once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from backupplan.journal import Journal
from backupplan.scheduler.applied import write_applied
from backupplan.scheduler.daemon import Daemon
from tests.mounts import fill, small_tmpfs
from tests.receiver import Receiver
from tests.runner.test_state_full import use_up_the_journal_slack
from tests.scheduler.conftest import World, utc
from tests.scheduler.daemon_harness import Harness, ShiftedClock, job_plan, until


def status_json(harness: Harness) -> dict[str, object]:
    document: dict[str, object] = json.loads((harness.root / "site" / "status.json").read_text())
    return document


def test_an_overdue_job_is_journaled_and_published_without_targets(harness: Harness) -> None:
    plan = job_plan("0 2 * * *", extra_job="    missed: skip\n")
    (harness.root / "backups.yaml").write_text(plan)
    clock = ShiftedClock(utc(2026, 3, 4, 9))
    harness.history(plan, clock, [utc(2026, 3, 1, 2)], utc(2026, 3, 1))

    async def body(daemon: Daemon) -> None:
        await until(lambda: bool(harness.records("job.overdue")))
        await asyncio.sleep(0.6)  # several more checks: one episode, one record

    assert harness.run(clock, body, overdue_every=0.1) == 0
    (overdue,) = harness.records("job.overdue")
    assert overdue["job"] == "photos"
    assert overdue["data"] == {"deadline": "2026-03-02T03:00:00.000Z", "paused": False}
    assert any(message.startswith("photos: overdue since 2026-03-02T03:00Z") for message in harness.messages)
    document = status_json(harness)
    (job,) = document["jobs"]  # type: ignore[misc]
    assert (job["overdue"], job["deadline"]) == (True, "2026-03-02T03:00:00Z")
    assert harness.records("notify.sent") == []  # no target: journaled and shown all the same


def test_a_paused_job_becomes_overdue_and_its_notice_says_paused(harness: Harness) -> None:
    receiver = Receiver()
    receiver.thread.start()
    try:
        plan = job_plan(
            "0 2 * * *",
            extra_settings=f"  notify: [{{url: 'json://{receiver.url}/hook', on: [overdue]}}]\n",
        )
        (harness.root / "backups.yaml").write_text(plan)
        clock = ShiftedClock(utc(2026, 3, 4, 9))
        harness.history(plan, clock, [utc(2026, 3, 1, 2)], utc(2026, 3, 1))
        with Journal.open(harness.state_dir) as journal:  # what `recovery: pause` leaves after a crash
            journal.append("job.paused", job="photos", data={"by": "recovery"})

        async def body(daemon: Daemon) -> None:
            await until(lambda: bool(harness.records("job.overdue")))

        assert harness.run(clock, body, overdue_every=0.1) == 0
        received = receiver.settle()
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=5)
    assert harness.records("run.started")[1:] == []  # paused: nothing ran
    (overdue,) = harness.records("job.overdue")
    assert overdue["data"]["paused"] is True
    (message,) = received
    text = json.dumps(message.json())
    assert "paused since" in text and "by recovery" in text and "backupplan resume photos" in text
    (job,) = status_json(harness)["jobs"]  # type: ignore[misc]
    assert (job["status"], job["paused"], job["overdue"], job["paused_by"]) == (
        "paused",
        True,
        True,
        "recovery",
    )


def test_a_success_ends_the_episode(harness: Harness) -> None:
    plan = job_plan("0 2 * * *")  # missed: run_once, so the daemon runs it at once
    (harness.root / "backups.yaml").write_text(plan)
    clock = ShiftedClock(utc(2026, 3, 4, 9))
    harness.history(plan, clock, [utc(2026, 3, 1, 2)], utc(2026, 3, 1))
    with Journal.open(harness.state_dir) as journal:  # an episode the last check found
        journal.append("job.overdue", job="photos", data={"deadline": "2026-03-02T03:00:00.000Z"})

    async def body(daemon: Daemon) -> None:
        await until(lambda: bool(harness.records("job.on_time")))

    assert harness.run(clock, body, overdue_every=0.1) == 0
    assert harness.records("run.finished")[-1]["data"]["status"] == "succeeded"
    (on_time,) = harness.records("job.on_time")
    assert on_time["data"] == {"since": "2026-03-02T03:00:00.000Z"}
    with Journal.open(harness.state_dir) as journal:
        assert journal.state.jobs["photos"].overdue_since is None


def test_the_heartbeat_rewrites_status_json_while_idle(harness: Harness) -> None:
    plan = job_plan("0 2 * * *")
    (harness.root / "backups.yaml").write_text(plan)
    clock = ShiftedClock(utc(2026, 3, 4, 9))
    harness.history(plan, clock, [utc(2026, 3, 4, 2)], utc(2026, 3, 1))  # on time: nothing runs
    seen: list[str] = []

    async def body(daemon: Daemon) -> None:
        path = harness.root / "site" / "status.json"
        await until(path.exists)
        for _ in range(3):
            await until(lambda: json.loads(path.read_text())["generated_at"] not in seen)
            seen.append(json.loads(path.read_text())["generated_at"])

    assert harness.run(clock, body, heartbeat_every=0.4) == 0
    assert len(seen) == 3 and seen == sorted(seen)
    document = status_json(harness)
    assert document["freshness"] == {
        "kept_by": "daemon",
        "heartbeat": 0.4,
        "expected_by": document["freshness"]["expected_by"],  # type: ignore[index]
    }
    assert harness.records("run.started")[1:] == []


@pytest.mark.slow
def test_settings_heartbeat_is_pinged_by_the_daemon_and_by_apply(harness: Harness, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    receiver.thread.start()
    try:
        plan = job_plan(
            "0 2 * * *",
            extra_settings=f"  heartbeat: {{url: 'http://{receiver.url}/ping/abc', every: 0.3s}}\n",
        )
        (harness.root / "backups.yaml").write_text(plan)
        clock = ShiftedClock(utc(2026, 3, 4, 9))
        harness.history(plan, clock, [utc(2026, 3, 4, 2)], utc(2026, 3, 1))

        async def body(daemon: Daemon) -> None:
            await until(lambda: len(receiver.received) >= 2)

        assert harness.run(clock, body, heartbeat_every=0.1) == 0
        from_daemon = len(receiver.settle())
        result = run_backupplan(["apply", "--plan", str(harness.root / "backups.yaml")], cwd=harness.root)
        assert result.returncode == 0, result.stderr
        received = receiver.settle()
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=5)
    assert from_daemon >= 2
    assert len(received) == from_daemon + 1  # apply pings once
    assert {request.path for request in received} == {"/ping/abc"}
    assert "keeps watch over 1 jobs" in received[0].body.decode()


def test_an_idle_apply_refreshes_status_json_and_journals_a_paused_job_overdue(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path)
    world.plan("  photos:\n    engine: rsync\n    source: src\n    destination: dst\n    schedule: '@daily'\n"
               "    missed: skip\n")  # fmt: skip
    world.applied(utc(2020, 1, 1))
    world.append("job.paused", utc(2020, 1, 1, 1), job="photos", data={"by": "recovery"})  # never runs
    world.close()
    assert world.loaded is not None
    write_applied(world.loaded, utc(2020, 1, 1))
    result = cli(["apply", "--plan", str(tmp_path / "backups.yaml")])
    assert result.code == 0, result.err
    assert "No changes. Nothing is due." in result.out
    assert (
        "photos: overdue since 2020-01-02T" in result.out
        and "(paused since 2020-01-01 01:00 UTC by recovery)" in result.out
    )
    document = json.loads((tmp_path / "site" / "status.json").read_text())
    assert document["freshness"]["kept_by"] == "timer"
    (job,) = document["jobs"]
    assert job["overdue"] is True
    with Journal.open(tmp_path / ".backupplan") as journal:
        assert journal.state.jobs["photos"].overdue_since is not None


@pytest.mark.slow
def test_a_full_state_dir_is_said_once_and_runs_resume_when_space_is_back(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backupplan.scheduler import daemon as daemon_module

    monkeypatch.setattr(daemon_module, "STATE_RETRY", 0.3)
    plan = job_plan("0 * * * *")
    (harness.root / "backups.yaml").write_text(plan)
    clock = ShiftedClock(utc(2026, 3, 1, 10, 20))
    with small_tmpfs(harness.state_dir):
        harness.history(plan, clock, [utc(2026, 3, 1, 10)], utc(2026, 3, 1, 9))
        filler: list[Path] = []

        async def body(daemon: Daemon) -> None:
            await asyncio.sleep(0.2)
            filler.append(fill(harness.state_dir))
            use_up_the_journal_slack(harness.state_dir)
            clock.jump(timedelta(hours=1))  # the 11:00 slot passes while the disk is full
            await until(lambda: bool(harness.problems))
            await asyncio.sleep(1.0)  # several retries: the problem is said once
            filler[0].unlink()
            await until(lambda: bool(harness.records("run.finished")[1:]))

        assert harness.run(clock, body) == 0
        assert len(harness.problems) == 1, harness.problems
        assert "no space left on the device" in harness.problems[0]
        assert "the state dir can be written again" in harness.messages
        assert harness.records("run.finished")[-1]["data"]["status"] == "succeeded"
