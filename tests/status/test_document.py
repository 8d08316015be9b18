"""The status document (docs/status-json.md), built from a journal with a job in every state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from backupplan.journal import JobLock, Journal
from backupplan.journal.locks import DAEMON_LOCK, StateLock
from backupplan.plan.load import load_plan
from backupplan.status.document import Keeper, build_status
from backupplan.status.facts import machine_facts
from tests.journal.helpers import FROZEN, demo


@pytest.fixture
def document(tmp_path: Path) -> Iterator[dict[str, Any]]:
    plan_path, state_dir = demo(tmp_path)
    plan = load_plan(plan_path)
    with JobLock(state_dir, "docs"), Journal.open(state_dir) as journal:  # docs' runner is alive
        yield build_status(
            journal.state, journal.health, plan=plan, now=FROZEN, progress_dir=state_dir / "progress"
        )


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in document["jobs"]}


def test_top_level_and_summary(document: dict[str, Any], tmp_path: Path) -> None:
    assert list(document) == [
        "format", "generated_at", "backupplan_version", "host", "freshness", "state_dir", "publish", "plan",
        "journal", "summary", "jobs", "recent_runs", "interruptions",
    ]  # fmt: skip
    assert document["format"] == 1
    assert document["generated_at"] == "2026-11-28T12:00:00Z"
    plan = document["plan"]
    assert plan["path"] == str(tmp_path / "backups.yaml")
    assert plan["digest"].startswith("sha256:")
    assert (plan["applied_at"], plan["applied_digest"]) == ("2026-11-27T09:00:00Z", "sha256:new")
    assert document["journal"] == {"records": 18, "last_seq": 18, "healthy": True, "problems": []}
    assert document["summary"] == {
        "jobs": 6, "running": 1, "succeeded": 1, "warning": 0, "failed": 0, "held": 0, "interrupted": 1,
        "paused": 0, "never_run": 2, "removed": 1, "disabled": 1, "overdue": 2,
        "bytes_total": 1048576 + 7000 + 5000, "failures_24h": 1,
    }  # fmt: skip
    assert [job["id"] for job in document["jobs"]] == [
        "archive",
        "docs",
        "music",
        "newcomer",
        "old",
        "photos",
    ]


def test_a_succeeded_cron_job(document: dict[str, Any]) -> None:
    assert by_id(document)["photos"] == {
        "id": "photos",
        "description": "Family photos to the NAS",
        "engine": "rsync",
        "enabled": True,
        "status": "succeeded",
        "overdue": False,
        "deadline": "2026-11-29T03:00:00Z",  # the first slot after its last success, plus 1 h grace
        "paused": False,
        "paused_since": None,
        "paused_by": None,
        "schedule": "0 2 * * *",
        "next_run": "2026-11-29T02:00:00Z",
        "last_run": {
            "run": "20261128T020000Z-3f9a",
            "job": "photos",
            "status": "succeeded",
            "reason": None,
            "trigger": "schedule",
            "started_at": "2026-11-28T02:00:00Z",
            "finished_at": "2026-11-28T02:00:41Z",
            "duration": 41.0,
            "exit_code": 0,
            "bytes": 1048576,
            "files": 12,
            "attempts": 1,
            "log": "logs/photos/20261128T020000Z-3f9a.log",
            "changes": None,  # the demo's runs were journaled without counts
        },
        "last_success": "2026-11-28T02:00:41Z",
        "runs": 1,
        "failures": 0,
        "bytes": 1048576,
        "files": 12,
        "progress": None,
        "verify": {
            "status": "ok",
            "at": "2026-11-28T06:00:41Z",
            "differences": 0,
            "run": "20261128T020000Z-3f9a",
        },
    }


def test_a_running_overdue_interval_job_with_progress(document: dict[str, Any]) -> None:
    docs = by_id(document)["docs"]
    assert (docs["status"], docs["overdue"]) == ("running", True)  # last success 2 days ago, every 6h
    assert docs["next_run"] == "2026-11-28T17:58:00Z"  # its current start plus 6h
    assert docs["last_run"]["status"] == "running"
    assert docs["last_run"]["finished_at"] is None
    assert docs["progress"]["percent"] == 42.5
    assert (docs["runs"], docs["failures"], docs["last_success"]) == (2, 1, "2026-11-26T10:01:22Z")


def test_interrupted_never_run_disabled_and_removed(document: dict[str, Any]) -> None:
    jobs = by_id(document)
    assert jobs["music"]["status"] == "interrupted"
    assert jobs["music"]["schedule"] is None and jobs["music"]["next_run"] is None
    assert jobs["music"]["last_run"]["reason"] == (
        "interrupted: backupplan stopped before the run ended (crash or power cut)"
    )
    assert document["interruptions"] == [
        {
            "job": "music",
            "run": "20261128T090000Z-0004",
            "detected_at": "2026-11-28T11:00:00Z",
            "handled": "pending",
        }
    ]
    assert (jobs["newcomer"]["status"], jobs["newcomer"]["next_run"]) == ("never_run", "2026-11-29T03:00:00Z")
    # first applied on the 26th at 09:00, due the 27th at 03:00 (+1h grace), never succeeded
    assert jobs["newcomer"]["overdue"] is True
    assert (jobs["archive"]["enabled"], jobs["archive"]["next_run"]) == (False, None)
    assert (jobs["old"]["status"], jobs["old"]["enabled"], jobs["old"]["runs"]) == ("removed", False, 1)
    assert jobs["old"]["engine"] == "rsync"


def test_recent_runs_newest_first(document: dict[str, Any]) -> None:
    assert [(run["job"], run["status"]) for run in document["recent_runs"]] == [
        ("docs", "running"),
        ("music", "interrupted"),
        ("docs", "failed"),
        ("photos", "succeeded"),
        ("docs", "succeeded"),
        ("old", "succeeded"),
    ]


def test_without_a_plan_the_journal_alone(tmp_path: Path) -> None:
    _, state_dir = demo(tmp_path)
    with JobLock(state_dir, "docs"), Journal.open(state_dir) as journal:
        document = build_status(journal.state, journal.health, plan=None, now=FROZEN, progress_dir=None)
    assert document["plan"] is None
    jobs = by_id(document)
    assert jobs["old"]["status"] == "removed"  # from the last plan.applied
    assert jobs["photos"]["schedule"] is None and jobs["photos"]["next_run"] is None
    assert jobs["docs"]["progress"] is None
    assert "newcomer" in jobs and jobs["newcomer"]["status"] == "never_run"


def test_a_stale_progress_file_is_ignored(tmp_path: Path) -> None:
    _, state_dir = demo(tmp_path)
    (state_dir / "progress" / "docs.json").write_text('{"run": "an-earlier-run", "percent": 99}')
    with JobLock(state_dir, "docs"), Journal.open(state_dir) as journal:
        document = build_status(
            journal.state, journal.health, plan=None, now=datetime(2026, 11, 28, 12, tzinfo=FROZEN.tzinfo),
            progress_dir=state_dir / "progress",
        )  # fmt: skip
    assert by_id(document)["docs"]["progress"] is None


def test_a_paused_job_still_becomes_overdue(tmp_path: Path) -> None:
    plan_path, state_dir = demo(tmp_path)
    plan = load_plan(plan_path)
    with Journal.open(state_dir) as journal:
        journal.append("job.paused", job="photos", data={"by": "recovery"})
        paused_at = journal.state.jobs["photos"].paused_since
        day_after = datetime(2026, 11, 29, 3, 0, 1, tzinfo=FROZEN.tzinfo)  # one second past its deadline
        before = build_status(journal.state, journal.health, plan=plan, now=FROZEN, progress_dir=None)
        after = build_status(journal.state, journal.health, plan=plan, now=day_after, progress_dir=None)
    photos = by_id(before)["photos"]
    assert (photos["status"], photos["paused"], photos["overdue"]) == ("paused", True, False)
    assert photos["paused_by"] == "recovery"
    assert photos["paused_since"] == paused_at[:19] + "Z"
    assert (photos["next_run"], photos["deadline"]) == (None, "2026-11-29T03:00:00Z")
    assert by_id(after)["photos"]["overdue"] is True
    assert after["summary"]["overdue"] == before["summary"]["overdue"] + 1


def test_a_resumed_job_forgets_who_paused_it(tmp_path: Path) -> None:
    _, state_dir = demo(tmp_path)
    with Journal.open(state_dir) as journal:
        journal.append("job.paused", job="photos", data={"by": "backupplan pause"})
        journal.append("job.resumed", job="photos")
        job = journal.state.jobs["photos"]
        assert (job.paused, job.paused_since, job.paused_by) == (False, None, None)
    with Journal.open(state_dir) as reopened:  # and so does a compacted journal
        reopened.append("job.paused", job="photos", data={"by": "recovery"})
        reopened.compact()
    with Journal.open(state_dir) as compacted:
        assert compacted.state.jobs["photos"].paused_by == "recovery"


@pytest.mark.parametrize(
    ("keeper", "expected_by"),
    [
        (Keeper("daemon", 60.0), "2026-11-28T12:03:00Z"),  # three heartbeats
        (Keeper("timer"), "2026-11-28T18:08:00Z"),  # the earliest next run (docs, 17:58) + 10 min
        (Keeper("manual"), None),
    ],
)
def test_freshness_says_when_the_next_refresh_is_due(
    tmp_path: Path, keeper: Keeper, expected_by: str | None
) -> None:
    plan_path, state_dir = demo(tmp_path)
    plan = load_plan(plan_path)
    with Journal.open(state_dir) as journal:
        document = build_status(
            journal.state, journal.health, plan=plan, now=FROZEN, progress_dir=None, keeper=keeper
        )
    assert document["freshness"] == {
        "kept_by": keeper.kind,
        "heartbeat": keeper.heartbeat,
        "expected_by": expected_by,
    }


def test_the_machine_facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUPPLAN_HOST", "nas")
    plan_path, state_dir = demo(tmp_path)
    plan = load_plan(plan_path)
    facts = machine_facts(plan, state_dir)
    assert facts["host"] == "nas"
    assert facts["keeper"] == Keeper("timer")  # scheduled jobs, no daemon
    with StateLock(state_dir, DAEMON_LOCK):
        assert machine_facts(plan, state_dir)["keeper"] == Keeper("daemon", 60.0)
    space = facts["state_space"]
    assert space.free_bytes > 0 and space.total_bytes >= space.free_bytes
    assert space.problem is None


def test_a_restamped_document_equals_one_built_anew(tmp_path: Path) -> None:
    """The heartbeat's shortcut: nothing happened between two moments, so the earlier document
    brought up to date must be exactly what a new build says, an overdue flip included."""
    from backupplan.status.document import restamped
    from tests.journal.helpers import Clock, run_once

    (tmp_path / "src").mkdir()
    plan_path = tmp_path / "backups.yaml"
    plan_path.write_text(
        "version: 1\nsettings:\n  timezone: UTC\njobs:\n"
        "  photos:\n    engine: rsync\n    source: src\n    destination: dst\n    schedule: '0 2 * * *'\n"
        "  manual:\n    engine: rsync\n    source: src\n    destination: dst2\n"
    )
    plan = load_plan(plan_path)
    clock = Clock(datetime(2026, 11, 27, 1, 0, tzinfo=FROZEN.tzinfo))
    with Journal.open(plan.state_dir, clock=clock) as journal:
        journal.append("plan.applied", data={"digest": plan.digest, "jobs": ["photos", "manual"]})
        clock.now = datetime(2026, 11, 27, 2, 0, tzinfo=FROZEN.tzinfo)
        run_once(journal, "photos", "20261127T020000Z-0001", clock)
        keeper = Keeper("daemon", 60.0)
        before = datetime(2026, 11, 28, 1, 30, tzinfo=FROZEN.tzinfo)  # on time until 03:00
        after = datetime(2026, 11, 28, 1, 59, tzinfo=FROZEN.tzinfo)
        earlier = build_status(
            journal.state, journal.health, plan=plan, now=before, progress_dir=None, keeper=keeper
        )
        anew = build_status(
            journal.state, journal.health, plan=plan, now=after, progress_dir=None, keeper=keeper
        )
        assert restamped(earlier, after, keeper) == anew
        slot_passed = datetime(2026, 11, 28, 2, 1, tzinfo=FROZEN.tzinfo)
        assert restamped(earlier, slot_passed, keeper) is None  # the 02:00 slot passed: build anew
        # and with the slot's run skipped, the deadline passes: the flip is found by a restamp
        quiet = build_status(
            journal.state, journal.health, plan=plan, now=after, progress_dir=None, keeper=keeper
        )
        quiet["jobs"][1]["next_run"] = None  # as for a paused job
        flipped = restamped(quiet, datetime(2026, 11, 28, 3, 0, 1, tzinfo=FROZEN.tzinfo), keeper)
        assert flipped is not None
        assert (flipped["jobs"][1]["overdue"], flipped["summary"]["overdue"]) == (True, 1)
        assert quiet["jobs"][1]["overdue"] is False  # the earlier document is not changed


def test_a_document_with_a_running_job_is_not_restamped(document: dict[str, Any]) -> None:
    from backupplan.status.document import restamped

    assert restamped(document, FROZEN, Keeper("daemon", 60.0)) is None


def test_a_progress_tick_equals_a_document_built_anew(tmp_path: Path) -> None:
    """The runner's progress shortcut: the journal did not move, only the progress file did, so
    the earlier document with the progress read anew must be what a new build says."""
    from datetime import timedelta

    import orjson

    from backupplan.status.document import with_progress

    plan_path, state_dir = demo(tmp_path)
    plan = load_plan(plan_path)
    progress_dir = state_dir / "progress"
    later = FROZEN + timedelta(seconds=1)
    with JobLock(state_dir, "docs"), Journal.open(state_dir) as journal:
        earlier = build_status(
            journal.state, journal.health, plan=plan, now=FROZEN, progress_dir=progress_dir
        )
        moved = {**orjson.loads((progress_dir / "docs.json").read_bytes()), "bytes": 123, "percent": 99.5}
        (progress_dir / "docs.json").write_bytes(orjson.dumps(moved))
        anew = build_status(journal.state, journal.health, plan=plan, now=later, progress_dir=progress_dir)
    shown: list[object] = []
    ticked = with_progress(earlier, progress_dir, later, lambda value: shown.append(value) or value)
    assert ticked == anew
    assert by_id(ticked)["docs"]["progress"] == moved
    assert shown == [moved]  # the new progress, and nothing else, goes through the masking
    assert by_id(earlier)["docs"]["progress"] != moved  # the earlier document is not changed
    # a progress file of another run (an earlier one, left behind) is not the running run's
    (progress_dir / "docs.json").write_bytes(orjson.dumps({**moved, "run": "20261101T000000Z-0000"}))
    assert by_id(with_progress(earlier, progress_dir, later, lambda value: value))["docs"]["progress"] is None
