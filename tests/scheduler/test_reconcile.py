"""What `commit` journals for a reconciliation: exact records, applied.json, the runs to start."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from typing import Any

from backupplan.scheduler.applied import read_applied
from backupplan.scheduler.reconcile import MISSED_LISTED, Launch, commit, reconcile
from tests.scheduler.conftest import World, utc
from tests.scheduler.test_due import crash, job_yaml


def records_after(world: World, seq: int) -> list[dict[str, Any]]:
    assert world.loaded is not None
    lines = (world.loaded.state_dir / "journal.jsonl").read_text().splitlines()
    found = []
    for line in lines:
        raw = json.loads(line)
        if raw["seq"] > seq:
            found.append({key: raw[key] for key in ("type", "job", "run", "data") if raw[key] is not None})
    return found


def test_first_apply_records_the_plan(world: World) -> None:
    loaded = world.plan(job_yaml("0 2 * * *") + job_yaml(None, name="manual"))
    world.at(utc(2026, 3, 1, 12))
    reconciliation = reconcile(loaded, world.journal.state, None, utc(2026, 3, 1, 12))
    assert reconciliation.record and not reconciliation.idle
    launches = commit(world.journal, reconciliation)
    assert launches == [Launch("photos", "apply", None, "never run")]
    assert records_after(world, 0) == [
        {"type": "plan.applied", "data": {
            "digest": loaded.digest, "path": str(loaded.path), "jobs": ["photos", "manual"],
            "added": ["manual", "photos"], "changed": [], "removed": []}},
    ]  # fmt: skip
    applied = read_applied(loaded.state_dir)
    assert applied is not None and applied.digest == loaded.digest and applied.plan == loaded.normalized()
    assert applied.applied_at == "2026-03-01T12:00:00.000Z"
    assert stat.S_IMODE((loaded.state_dir / "applied.json").stat().st_mode) == 0o600


def test_a_removed_job_is_marked_removed_and_keeps_its_history(world: World) -> None:
    world.plan(job_yaml("0 2 * * *") + job_yaml("0 3 * * *", name="old"))
    world.ran("old", utc(2026, 3, 1, 2))
    assert world.loaded is not None
    commit(world.journal, reconcile(world.loaded, world.journal.state, None, utc(2026, 3, 1, 3)))
    seq = world.journal.state.last_seq
    loaded = world.plan(job_yaml("0 2 * * *"))
    applied = read_applied(loaded.state_dir)
    reconciliation = reconcile(loaded, world.journal.state, applied, utc(2026, 3, 1, 4))
    assert list(reconciliation.diff.removed) == ["old"]
    commit(world.journal, reconciliation)
    removed = [record for record in records_after(world, seq) if record["type"] == "job.removed"]
    assert removed == [{"type": "job.removed", "job": "old", "data": {}}]
    old = world.journal.state.jobs["old"]
    assert old.removed and old.runs == 1 and len(old.history) == 1


def test_missed_slots_skipped_one_by_one(world: World) -> None:
    loaded = world.plan(job_yaml("0 2 * * *", missed="skip"))
    applied = world.applied(utc(2026, 3, 1))
    world.ran("photos", utc(2026, 3, 1, 1))
    seq = world.journal.state.last_seq
    launches = commit(world.journal, reconcile(loaded, world.journal.state, applied, utc(2026, 3, 3, 9)))
    assert launches == []
    expected = []
    for day in (2, 3):
        slot = f"2026-03-0{day}T01:00:00.000Z"
        expected += [
            {"type": "slot.missed", "job": "photos", "data": {"slot": slot, "action": "skip"}},
            {"type": "run.skipped", "job": "photos", "data": {
                "slot": slot, "reason": "missed",
                "message": "skipped: missed while backupplan was not running (missed: skip)"}},
        ]  # fmt: skip
    recent = [
        {"slot": f"2026-03-0{day}T01:00:00Z", "detected_at": "2026-03-03T09:00:00Z", "action": "skip"}
        for day in (3, 2)
    ]
    expected.append({"type": "job.note", "job": "photos", "data": {"missed": recent}})
    assert records_after(world, seq) == expected
    assert world.journal.state.jobs["photos"].missed_slots == 2
    assert world.journal.state.jobs["photos"].notes["missed"] == recent  # what status and the site show


def test_many_missed_slots_are_summed_up(world: World) -> None:
    loaded = world.plan(job_yaml("0 * * * *", missed="run_once"), settings="  timezone: UTC\n")
    applied = world.applied(utc(2026, 3, 1))
    world.ran("photos", utc(2026, 3, 1, 0, 0, 30))
    seq = world.journal.state.last_seq
    now = utc(2026, 3, 3, 0, 30)  # 48 slots: 01:00 on the 1st … 00:00 on the 3rd
    launches = commit(world.journal, reconcile(loaded, world.journal.state, applied, now))
    assert launches == [
        Launch(
            "photos", "catch_up", utc(2026, 3, 3), "missed 48 slots since 2026-03-01 01:00 UTC "
            "(missed: run_once: one run for all)",
        )
    ]  # fmt: skip
    assert MISSED_LISTED < 48
    assert records_after(world, seq) == [
        {"type": "slot.missed", "job": "photos", "data": {
            "slot": "2026-03-01T01:00:00.000Z", "last_slot": "2026-03-03T00:00:00.000Z", "count": 48,
            "more": False, "action": "run_once"}},
        {"type": "job.note", "job": "photos", "data": {"missed": [{
            "slot": "2026-03-03T00:00:00Z", "detected_at": "2026-03-03T00:30:00Z", "action": "run_once",
            "first_slot": "2026-03-01T01:00:00Z", "count": 48}]}},
    ]  # fmt: skip
    assert world.journal.state.jobs["photos"].missed_slots == 48


def test_paused_slots_are_skipped(world: World) -> None:
    loaded = world.plan(job_yaml("0 2 * * *"))
    applied = world.applied(utc(2026, 3, 1))
    world.ran("photos", utc(2026, 3, 1, 1))
    world.append("job.paused", utc(2026, 3, 1, 5), job="photos")
    seq = world.journal.state.last_seq
    commit(world.journal, reconcile(loaded, world.journal.state, applied, utc(2026, 3, 3, 1, 0, 10)))
    assert records_after(world, seq) == [
        {"type": "run.skipped", "job": "photos", "data": {
            "slot": f"2026-03-0{day}T01:00:00.000Z", "reason": "paused",
            "message": "skipped: the job is paused"}}
        for day in (2, 3)
    ]  # fmt: skip


def test_recovery_resume_and_pause(world: World) -> None:
    loaded = world.plan(job_yaml("0 2 * * *"))
    applied = world.applied(utc(2026, 2, 28))
    run = crash(world, utc(2026, 3, 1, 1))
    seq = world.journal.state.last_seq
    launches = commit(world.journal, reconcile(loaded, world.journal.state, applied, utc(2026, 3, 1, 3)))
    assert [launch.trigger for launch in launches] == ["resume"]
    assert records_after(world, seq) == [
        {"type": "recovery.handled", "job": "photos", "run": run, "data": {
            "job": "photos", "run": run, "action": "resumed", "message": "recovery: resume"}},
    ]  # fmt: skip
    assert world.journal.state.interruptions[-1].handled == "resumed"

    paused_plan = world.plan(job_yaml("0 2 * * *"), settings="  timezone: Europe/Berlin\n  recovery: pause\n")
    second = crash(world, utc(2026, 3, 2, 3))
    seq = world.journal.state.last_seq
    assert commit(world.journal, reconcile(paused_plan, world.journal.state, None, utc(2026, 3, 2, 5))) == []
    handled = [record for record in records_after(world, seq) if record["type"] != "plan.applied"]
    assert handled == [
        {"type": "recovery.handled", "job": "photos", "run": second, "data": {
            "job": "photos", "run": second, "action": "paused",
            "message": "paused until `backupplan resume photos` (recovery: pause)"}},
        {"type": "job.paused", "job": "photos", "data": {"by": "recovery"}},
    ]  # fmt: skip
    assert world.journal.state.jobs["photos"].paused


def test_an_interruption_of_a_removed_job_is_dismissed(world: World) -> None:
    world.plan(job_yaml("0 2 * * *"))
    run = crash(world, utc(2026, 3, 1, 1))
    loaded = world.plan(job_yaml("0 2 * * *", name="other"))
    reconciliation = reconcile(loaded, world.journal.state, None, utc(2026, 3, 1, 2))
    assert [(stray.job, stray.action) for stray in reconciliation.strays] == [("photos", "dismissed")]
    commit(world.journal, reconciliation)
    assert world.journal.state.interruption("photos", run).handled == "dismissed"  # type: ignore[union-attr]


def test_nothing_to_do_is_idle(world: World) -> None:
    loaded = world.plan(job_yaml("0 2 * * *"))
    world.ran("photos", utc(2026, 3, 1, 1))
    commit(world.journal, reconcile(loaded, world.journal.state, None, utc(2026, 3, 1, 1, 5)))
    again = reconcile(loaded, world.journal.state, read_applied(loaded.state_dir), utc(2026, 3, 1, 1, 10))
    assert again.idle and not again.record and again.due == []
    later = reconcile(
        loaded, world.journal.state, read_applied(loaded.state_dir), utc(2026, 3, 2, 1) + timedelta(seconds=5)
    )
    assert not later.idle and [item.job for item in later.due] == ["photos"]


def test_missed_slots_reach_the_status_document(world: World) -> None:
    from pathlib import Path

    from backupplan.journal.health import JournalHealth
    from backupplan.status.document import build_status

    loaded = world.plan(job_yaml("0 2 * * *", missed="skip") + job_yaml("0 2 * * *", name="fine"))
    world.ran("photos", utc(2026, 3, 1, 1))
    world.ran("fine", utc(2026, 3, 3, 1))
    commit(world.journal, reconcile(loaded, world.journal.state, world.applied(), utc(2026, 3, 3, 9)))
    health = JournalHealth(Path("j"), 0, 0, (), False)
    document = build_status(
        world.journal.state, health, plan=loaded, now=utc(2026, 3, 3, 9), progress_dir=None
    )
    jobs = {entry["id"]: entry for entry in document["jobs"]}
    assert [slot["slot"] for slot in jobs["photos"]["missed"]] == [
        "2026-03-03T01:00:00Z",
        "2026-03-02T01:00:00Z",
    ]
    assert "missed" not in jobs["fine"]  # the field is only there when there is something to show
