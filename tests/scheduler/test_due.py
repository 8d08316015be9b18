"""Due-ness under a controllable clock: which jobs run, with which trigger, for which slot, and
what is journaled about the slots they passed. Europe/Berlin for the DST cases."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backupplan.journal import JobLock
from backupplan.scheduler.due import Assessment, assess
from backupplan.scheduler.slots import COUNT_LIMIT
from tests.scheduler.conftest import World, utc

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def job_yaml(schedule: str | None, *, missed: str = "run_once", extra: str = "", name: str = "photos") -> str:
    lines = [
        f"  {name}:",
        "    engine: rsync",
        "    source: src",
        f"    destination: dst/{name}",
        f"    missed: {missed}",
    ]
    if schedule is not None:
        lines.append(f'    schedule: "{schedule}"')
    return "\n".join(lines) + "\n" + extra


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def one(world: World, now: datetime, **options: object) -> Assessment:
    assert world.loaded is not None
    (found,) = assess(world.loaded, world.journal.state, None, now, **options)  # type: ignore[arg-type]
    return found


@dataclass
class Case:
    """A job's last runs (start times, Berlin), the time now, and the expected verdict."""

    id: str
    schedule: str
    runs: list[datetime]
    now: datetime
    run: bool
    trigger: str | None = None
    slot: datetime | None = None
    missed: list[datetime] = field(default_factory=list)
    policy: str = "run_once"
    reason: str = ""


CASES = [
    Case("on time", "0 2 * * *", [berlin(2026, 3, 1, 2, 0)], berlin(2026, 3, 2, 2, 0, 30),
         True, "schedule", berlin(2026, 3, 2, 2, 0), reason="slot 2026-03-02 02:00 CET"),
    Case("before the slot", "0 2 * * *", [berlin(2026, 3, 1, 2, 0)], berlin(2026, 3, 2, 1, 59),
         False, reason="next slot 2026-03-02 02:00 CET"),
    Case("three missed, run once", "0 2 * * *", [berlin(2026, 3, 1, 2, 0)], berlin(2026, 3, 4, 9, 0),
         True, "catch_up", berlin(2026, 3, 4, 2, 0),
         missed=[berlin(2026, 3, 2, 2, 0), berlin(2026, 3, 3, 2, 0), berlin(2026, 3, 4, 2, 0)],
         reason="missed 3 slots since 2026-03-02 02:00 CET (missed: run_once: one run for all)"),
    Case("three missed, skipped", "0 2 * * *", [berlin(2026, 3, 1, 2, 0)], berlin(2026, 3, 4, 9, 0),
         False, missed=[berlin(2026, 3, 2, 2, 0), berlin(2026, 3, 3, 2, 0), berlin(2026, 3, 4, 2, 0)],
         policy="skip",
         reason="missed 3 slots since 2026-03-02 02:00 CET (missed: skip); next slot 2026-03-05 02:00 CET"),
    Case("two missed and one on time, skip", "0 2 * * *", [berlin(2026, 3, 1, 2, 0)],
         berlin(2026, 3, 4, 2, 1), True, "schedule", berlin(2026, 3, 4, 2, 0),
         missed=[berlin(2026, 3, 2, 2, 0), berlin(2026, 3, 3, 2, 0)], policy="skip"),
    # DST fall-back day (2025-10-26): 02:30 happens twice; a daily job runs at the first only.
    Case("fall-back: the repeated 02:30 is not a slot", "30 2 * * *", [utc(2025, 10, 26, 0, 30)],
         utc(2025, 10, 26, 1, 31), False, reason="next slot 2025-10-27 02:30 CET"),
    Case("fall-back: the first 02:30 runs", "30 2 * * *", [berlin(2025, 10, 25, 2, 30)],
         utc(2025, 10, 26, 0, 31), True, "schedule", utc(2025, 10, 26, 0, 30)),
    Case("fall-back: down over the night, one slot missed", "30 2 * * *", [berlin(2025, 10, 25, 2, 30)],
         berlin(2025, 10, 26, 9, 0), True, "catch_up", utc(2025, 10, 26, 0, 30),
         missed=[utc(2025, 10, 26, 0, 30)]),
    Case("fall-back: an hourly job keeps both 02:30", "30 * * * *", [berlin(2025, 10, 26, 1, 30)],
         utc(2025, 10, 26, 1, 45), True, "catch_up", utc(2025, 10, 26, 1, 30),
         missed=[utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 30)]),
    # Spring-forward (2025-03-30): 02:30 does not exist; the job runs once, at 03:30 CEST.
    Case("spring-forward: the missing 02:30 runs once", "30 2 * * *", [berlin(2025, 3, 29, 2, 30)],
         utc(2025, 3, 30, 1, 31), True, "schedule", utc(2025, 3, 30, 1, 30)),
    Case("spring-forward: no second run that day", "30 2 * * *", [utc(2025, 3, 30, 1, 30)],
         berlin(2025, 3, 30, 23, 0), False, reason="next slot 2025-03-31 02:30 CEST"),
    # The clock jumps 3 hours forward (a suspend): the passed slots are caught up by one run.
    Case("3-hour jump forward", "0 * * * *", [berlin(2026, 3, 1, 10, 0)], berlin(2026, 3, 1, 13, 30),
         True, "catch_up", berlin(2026, 3, 1, 13, 0),
         missed=[berlin(2026, 3, 1, 11, 0), berlin(2026, 3, 1, 12, 0), berlin(2026, 3, 1, 13, 0)]),
    Case("3-hour jump forward, skipped", "0 * * * *", [berlin(2026, 3, 1, 10, 0)], berlin(2026, 3, 1, 13, 30),
         False, missed=[berlin(2026, 3, 1, 11, 0), berlin(2026, 3, 1, 12, 0), berlin(2026, 3, 1, 13, 0)],
         policy="skip"),
    Case("1-hour jump back", "0 * * * *", [berlin(2026, 3, 1, 10, 0)], berlin(2026, 3, 1, 9, 30),
         False, reason="next slot 2026-03-01 10:00 CET"),
    Case("interval reached", "every 6h", [berlin(2026, 3, 1, 10, 0)], berlin(2026, 3, 1, 16, 0, 1),
         True, "schedule", berlin(2026, 3, 1, 16, 0)),
    Case("interval reached a moment early (cron starts apply)", "every 6h", [berlin(2026, 3, 1, 10, 0, 1)],
         berlin(2026, 3, 1, 16, 0, 0), True, "schedule", berlin(2026, 3, 1, 16, 0, 1)),
    Case("interval not reached", "every 6h", [berlin(2026, 3, 1, 10, 0)], berlin(2026, 3, 1, 13, 0),
         False, reason="next slot 2026-03-01 16:00 CET"),
    Case("interval, two missed", "every 6h", [berlin(2026, 3, 1, 10, 0)], berlin(2026, 3, 2, 0, 0),
         True, "catch_up", berlin(2026, 3, 1, 22, 0),
         missed=[berlin(2026, 3, 1, 16, 0), berlin(2026, 3, 1, 22, 0)]),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_slots(world: World, case: Case) -> None:
    world.plan(job_yaml(case.schedule, missed=case.policy))
    for start in case.runs:
        world.ran("photos", start.astimezone(UTC), seconds=30)
    found = one(world, case.now.astimezone(UTC))
    assert (found.run, found.trigger) == (case.run, case.trigger)
    if case.slot is not None:
        assert found.slot is not None and iso(found.slot) == iso(case.slot)
    assert [iso(moment) for moment in found.missed.times] == [iso(moment) for moment in case.missed]
    assert found.missed.count == len(case.missed)
    assert found.missed_action == (case.policy if case.missed else None)
    if case.reason:
        assert found.reason == case.reason


def test_never_run_is_due_at_once(world: World) -> None:
    world.plan(job_yaml("0 0 1 1 *"))
    found = one(world, utc(2026, 6, 1))
    assert (found.run, found.trigger, found.reason, found.slot) == (True, "apply", "never run", None)
    later = one(world, utc(2026, 6, 1), first_trigger="catch_up")
    assert later.trigger == "catch_up"


def test_a_ten_year_jump_is_bounded(world: World) -> None:
    world.plan(job_yaml("* * * * *"), settings="  timezone: UTC\n")
    world.ran("photos", utc(2020, 1, 1))
    started = time.perf_counter()
    found = one(world, utc(2030, 1, 1, 0, 0, 30))
    assert time.perf_counter() - started < 2.0
    assert (found.run, found.trigger) == (True, "schedule")  # the 00:00 slot is on time
    assert found.missed.more and found.missed.count == COUNT_LIMIT
    assert found.missed.first == utc(2020, 1, 1, 0, 1)
    assert found.missed.last == utc(2029, 12, 31, 23, 59)
    assert found.missed.describe() == f"at least {COUNT_LIMIT} slots"


def test_a_ten_year_jump_of_an_interval_counts_exactly(world: World) -> None:
    world.plan(job_yaml("every 1h"), settings="  timezone: UTC\n")
    world.ran("photos", utc(2020, 1, 1))
    found = one(world, utc(2030, 1, 1, 0, 30))
    hours = int((utc(2030, 1, 1) - utc(2020, 1, 1)) / timedelta(hours=1))
    assert (found.missed.count, found.missed.more, len(found.missed.times)) == (hours, False, COUNT_LIMIT)
    assert found.missed.last == utc(2030, 1, 1)


def crash(world: World, at: datetime) -> str:
    """A run that started at `at` and never ended, found interrupted by a later open."""
    run = f"{at:%Y%m%dT%H%M%SZ}-dead"
    world.append("run.started", at, job="photos", run=run, data={"trigger": "schedule", "engine": "rsync"})
    facts = {"reason": "crash", "pid": 999999, "pgid": 999999, "start_time": 1, "boot_id": "x"}
    world.append("run.interrupted", at + timedelta(hours=1), job="photos", run=run, data=facts)
    return run


def test_a_crash_is_resumed_under_recovery_resume(world: World) -> None:
    world.plan(job_yaml("0 2 * * *"))
    run = crash(world, utc(2026, 3, 1, 1, 0))
    found = one(world, utc(2026, 3, 1, 1, 30))
    assert (found.run, found.trigger) == (True, "resume")
    assert found.recovery is not None and (found.recovery.run, found.recovery.action) == (run, "resumed")
    assert found.reason == f"interrupted by a crash (run {run}): resuming (recovery: resume)"


def test_a_crash_pauses_the_job_under_recovery_pause(world: World) -> None:
    world.plan(job_yaml("0 2 * * *"), settings="  timezone: Europe/Berlin\n  recovery: pause\n")
    run = crash(world, utc(2026, 3, 1, 1, 0))
    found = one(world, utc(2026, 3, 2, 1, 0, 30))  # the 02:00 CET slot is on time
    assert (found.run, found.skipped, found.slot) == (False, "paused", utc(2026, 3, 2, 1, 0))
    assert found.recovery is not None and found.recovery.action == "paused"
    assert found.reason.startswith(f"held: run {run} was interrupted by a crash; paused until")


def test_a_crash_superseded_by_a_later_run_is_dismissed(world: World) -> None:
    world.plan(job_yaml("0 2 * * *"))
    crash(world, utc(2026, 3, 1, 1, 0))
    world.ran("photos", utc(2026, 3, 1, 1, 0, 5), trigger="manual")  # `backupplan run` meanwhile
    found = one(world, utc(2026, 3, 1, 1, 30))
    assert found.run is False
    assert found.recovery is not None and found.recovery.action == "dismissed"


def test_an_interrupted_scheduled_run_is_resumed_but_not_a_manual_one(world: World) -> None:
    world.plan(job_yaml("0 2 * * *"))
    for trigger, expected in (("schedule", True), ("manual", False)):
        run = f"run-{trigger}"
        world.append("run.started", utc(2026, 3, 1, 1, 0), job="photos", run=run, data={"trigger": trigger})
        world.append(
            "run.interrupted", utc(2026, 3, 1, 1, 5), job="photos", run=run, data={"reason": "shutdown"}
        )
        found = one(world, utc(2026, 3, 1, 1, 10))
        assert (found.run, found.trigger if found.run else None) == (expected, "resume" if expected else None)


def test_running_and_paused_jobs_skip_their_slots(world: World) -> None:
    world.plan(job_yaml("0 2 * * *"))
    world.ran("photos", utc(2026, 3, 1, 1, 0))
    world.append("run.started", utc(2026, 3, 2, 0, 30), job="photos", run="long", data={"trigger": "manual"})
    assert world.loaded is not None
    with JobLock(world.loaded.state_dir, "photos"):  # its runner is alive
        found = one(world, utc(2026, 3, 2, 1, 0, 20))
        assert (found.run, found.skipped, found.slot) == (False, "overlap", utc(2026, 3, 2, 1, 0))
        assert found.reason == "running (run long, since 2026-03-02 01:30 CET)"
        world.append(
            "run.finished", utc(2026, 3, 2, 1, 1), job="photos", run="long", data={"status": "succeeded"}
        )
    world.append("job.paused", utc(2026, 3, 3, 0, 0), job="photos")
    found = one(world, utc(2026, 3, 5, 1, 0, 20))
    # 02:00 CET on the 2nd (passed while `long` ran), 3rd and 4th; the 5th is on time
    assert (found.run, found.skipped, found.missed.count, found.slot) == (
        False,
        "paused",
        3,
        utc(2026, 3, 5, 1, 0),
    )


def test_busy_elsewhere_turns_a_run_into_an_overlap(world: World) -> None:
    world.plan(job_yaml("0 2 * * *"))
    world.ran("photos", utc(2026, 3, 1, 1, 0))
    found = one(world, utc(2026, 3, 2, 1, 0, 20), busy=lambda job: "pid 7 holds its lock")
    assert (found.run, found.skipped, found.reason) == (False, "overlap", "busy: pid 7 holds its lock")


def test_disabled_and_manual_jobs_never_run(world: World) -> None:
    loaded = world.plan(job_yaml("0 2 * * *", extra="    enabled: false\n") + job_yaml(None, name="manual"))
    found = assess(loaded, world.journal.state, None, utc(2026, 3, 1))
    assert [(item.job, item.run, item.reason) for item in found] == [
        ("photos", False, "disabled (enabled: false)"),
        ("manual", False, "manual only (no schedule)"),
    ]


def test_a_changed_destination_runs_at_once(world: World) -> None:
    loaded = world.plan(job_yaml("0 2 * * *"))
    world.ran("photos", utc(2026, 3, 1, 1, 0))
    applied = world.applied().plan
    assert assess(loaded, world.journal.state, applied, utc(2026, 3, 1, 2, 0))[0].run is False
    moved = world.plan(job_yaml("0 2 * * *").replace("dst/photos", "elsewhere"))
    found = assess(moved, world.journal.state, applied, utc(2026, 3, 1, 2, 0))[0]
    assert (found.run, found.trigger) == (True, "apply")
    assert found.reason == "changed: destination dst/photos → elsewhere"


def test_a_failed_run_waits_for_its_retry_time(world: World) -> None:
    world.plan(job_yaml("0 2 * * *"))
    world.ran("photos", utc(2026, 3, 1, 1, 0), status="failed")
    note = {"failures": 2, "at": "2026-03-01T01:01:00.000Z", "next": "2026-03-01T02:01:00.000Z"}
    world.append("job.note", utc(2026, 3, 1, 1, 1), job="photos", data={"retry": note})
    waiting = one(world, utc(2026, 3, 1, 1, 30))
    assert (waiting.run, waiting.retry_at) == (False, utc(2026, 3, 1, 2, 1))
    assert waiting.reason == "waiting to retry at 2026-03-01 03:01 CET (the last run did not succeed)"
    due = one(world, utc(2026, 3, 1, 2, 2))
    assert (due.run, due.trigger, due.reason) == (
        True,
        "catch_up",
        "retry: the last run did not succeed (2 in a row)",
    )
    world.ran("photos", utc(2026, 3, 1, 1, 40), trigger="manual")  # a success since: no retry
    assert one(world, utc(2026, 3, 1, 2, 2)).run is False


def test_overdue_agrees_with_status(world: World) -> None:
    """The shortcut in `_overdue` gives the status document's answer for every job that waits."""
    from backupplan.journal.health import JournalHealth
    from backupplan.status.document import build_status

    jobs = "".join(
        job_yaml(schedule, name=name)
        for name, schedule in (("daily", "0 2 * * *"), ("hourly", "0 * * * *"), ("six", "every 6h"))
    )
    loaded = world.plan(jobs, settings="  timezone: Europe/Berlin\n  overdue_grace: 30m\n")
    world.applied(utc(2026, 3, 1))
    world.ran("daily", utc(2026, 3, 1, 1, 0))
    world.ran("hourly", utc(2026, 3, 1, 5, 0), status="failed")
    world.ran("six", utc(2026, 3, 1, 3, 0))
    for hours in range(0, 60, 3):
        now = utc(2026, 3, 1, 1, 30) + timedelta(hours=hours)
        health = JournalHealth(Path("j"), 0, 0, (), False)
        document = build_status(world.journal.state, health, plan=loaded, now=now, progress_dir=None)
        expected = {entry["id"]: entry["overdue"] for entry in document["jobs"]}
        for item in assess(loaded, world.journal.state, None, now):
            if not item.run:
                assert item.overdue == expected[item.job], (item.job, now)


def test_a_job_started_here_journals_nothing_about_its_slot(world: World) -> None:
    from backupplan.scheduler.due import CLAIMED_HERE

    world.plan(job_yaml("0 2 * * *"))
    world.ran("photos", utc(2026, 3, 1, 1))
    # e.g. a fire that came just before a clock-jump catch-up: its run covers the slot
    found = one(world, utc(2026, 3, 2, 1, 0, 20), busy=lambda job: CLAIMED_HERE)
    assert (found.run, found.skipped, found.missed.count) == (False, None, 0)
    assert found.reason == f"busy: {CLAIMED_HERE}"
