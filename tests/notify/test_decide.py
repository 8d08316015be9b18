from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backupplan.notify.decide import (
    Decision,
    NotifyState,
    decide_interrupted,
    decide_overdue,
    decide_run,
    parse_time,
    sent_record,
)

START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def run(status: str, at: datetime, number: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "job": "photos",
        "run": f"run-{number}",
        "status": status,
        "finished_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }


def events(decision: Decision) -> list[str]:
    return [notice.event for notice in decision.notices]


def play(statuses: list[str], *, every: timedelta = timedelta(hours=1)) -> list[list[str]]:
    state = NotifyState()
    seen = []
    for number, status in enumerate(statuses):
        decision = decide_run(state, run(status, START + every * number, number))
        seen.append(events(decision))
        state = decision.state
    return seen


def test_three_failed_runs_then_a_success_send_one_failure_and_one_recovery() -> None:
    assert play(["failed", "failed", "failed", "succeeded"]) == [
        ["failure"],
        [],
        [],
        ["recovery", "success"],
    ]


def test_a_run_that_needed_attempts_is_one_success_and_no_recovery() -> None:
    decision = decide_run(NotifyState(), run("succeeded", START, attempts=3))
    assert events(decision) == ["success"]
    assert decision.state == NotifyState(last_finished_at=START)


def test_timed_out_is_a_failure_and_warning_is_a_success() -> None:
    assert play(["timed_out", "failed", "warning", "warning"]) == [
        ["failure"],
        [],
        ["recovery", "success"],
        ["success"],
    ]


def test_a_new_streak_after_a_recovery_is_reported_again() -> None:
    assert play(["failed", "succeeded", "failed"]) == [["failure"], ["recovery", "success"], ["failure"]]


def test_a_streak_reminds_once_a_day() -> None:
    # Failed runs every 6 hours: the first, then one reminder each 24 hours after the last message.
    seen = play(["failed"] * 10, every=timedelta(hours=6))
    assert seen == [["failure"], [], [], [], ["failure"], [], [], [], ["failure"], []]


def test_reminder_says_so_and_carries_the_streak() -> None:
    state = NotifyState()
    for number in range(3):
        decision = decide_run(state, run("failed", START + timedelta(hours=12 * number), number))
        state = decision.state
    (notice,) = decision.notices
    assert notice.reminder is True
    assert notice.failed_runs == 3
    assert notice.failing_since == START
    assert state == NotifyState(
        failing_since=START,
        failed_runs=3,
        failure_sent_at=START + timedelta(hours=24),
        last_finished_at=START + timedelta(hours=24),
    )


def test_skipped_runs_change_nothing() -> None:
    failing = decide_run(NotifyState(), run("failed", START)).state
    decision = decide_run(failing, run("skipped", START + timedelta(hours=1), reason="skipped: no network"))
    assert events(decision) == []
    assert decision.state == failing


def test_an_interrupted_run_is_reported_and_keeps_the_streak() -> None:
    failing = decide_run(NotifyState(), run("failed", START)).state
    decision = decide_run(
        failing, run("interrupted", START + timedelta(hours=1), reason="stopped by SIGTERM")
    )
    (notice,) = decision.notices
    assert (notice.event, notice.detail) == ("interrupted", "stopped by SIGTERM")
    assert decision.state == failing
    # the streak goes on: the next failure is quiet, the next success a recovery
    assert events(decide_run(decision.state, run("failed", START + timedelta(hours=2)))) == []


def test_a_crash_interruption_is_reported() -> None:
    decision = decide_interrupted(NotifyState(), "photos", run_id="run-7", at=START)
    (notice,) = decision.notices
    assert (notice.event, notice.run_id, notice.detail) == (
        "interrupted",
        "run-7",
        "a crash interrupted the run",
    )
    assert decision.state == NotifyState()


def test_overdue_once_per_episode_and_again_after_a_success() -> None:
    state = NotifyState()
    first = decide_overdue(state, "photos", now=START, last_success=None)
    assert events(first) == ["overdue"]
    assert first.notices[0].detail == "it has never succeeded"
    again = decide_overdue(first.state, "photos", now=START + timedelta(days=3), last_success=None)
    assert events(again) == []
    success = decide_run(again.state, run("succeeded", START + timedelta(days=4)))
    assert events(success) == ["recovery", "success"]
    later = decide_overdue(
        success.state, "photos", now=START + timedelta(days=6), last_success=START + timedelta(days=4)
    )
    assert events(later) == ["overdue"]
    assert later.notices[0].detail == "no successful run since 2026-12-02T02:00:00Z"


def test_a_reported_streak_reminds_instead_of_overdue() -> None:
    failing = decide_run(NotifyState(), run("failed", START)).state
    assert events(decide_overdue(failing, "photos", now=START + timedelta(hours=1), last_success=None)) == []
    # runs go on (a failed run 22 hours after the message): the runs will send the reminder
    going_on = decide_run(failing, run("failed", START + timedelta(hours=22), 2)).state
    assert (
        events(decide_overdue(going_on, "photos", now=START + timedelta(hours=23), last_success=None)) == []
    )
    # the runs stopped: the daemon's check sends the daily reminder, never an overdue message
    later = decide_overdue(failing, "photos", now=START + timedelta(hours=23), last_success=None)
    (reminder,) = later.notices
    assert (reminder.event, reminder.reminder, reminder.run) == ("failure", True, None)
    assert (reminder.failed_runs, reminder.failing_since) == (1, START)
    assert reminder.detail == "the last run finished at 2026-11-28T02:00:00Z"
    assert later.state.failure_sent_at == START + timedelta(hours=23)
    assert later.state.overdue_sent_at is None
    assert (
        events(decide_overdue(later.state, "photos", now=START + timedelta(hours=30), last_success=None))
        == []
    )


def test_a_nightly_job_is_reminded_every_night_despite_wobble() -> None:
    state = decide_run(NotifyState(), run("failed", START + timedelta(seconds=41))).state
    nightly = decide_run(state, run("failed", START + timedelta(days=1, seconds=35), 2))
    assert [(notice.event, notice.reminder) for notice in nightly.notices] == [("failure", True)]


def test_a_failure_during_an_overdue_episode_is_still_reported() -> None:
    overdue = decide_overdue(NotifyState(), "photos", now=START, last_success=None).state
    assert events(decide_run(overdue, run("failed", START + timedelta(hours=1)))) == ["failure"]


def test_state_round_trips_through_json_data() -> None:
    state = NotifyState(
        failing_since=START,
        failed_runs=2,
        failure_sent_at=START,
        overdue_sent_at=START + timedelta(hours=3),
        last_finished_at=START + timedelta(hours=1),
    )
    data = state.to_data()
    assert data == {
        "failing_since": "2026-11-28T02:00:00Z",
        "failed_runs": 2,
        "failure_sent_at": "2026-11-28T02:00:00Z",
        "overdue_sent_at": "2026-11-28T05:00:00Z",
        "last_finished_at": "2026-11-28T03:00:00Z",
    }
    assert NotifyState.from_data(data) == state
    assert NotifyState.from_data({}) == NotifyState()


def test_the_state_kept_in_the_job_note_survives_a_restart() -> None:
    """A day of events; after each, the state goes through the `job.note` a caller journals
    (`to_data`, then `from_data` at the next start) and comes back equal to the live one."""
    live: dict[str, NotifyState] = {}
    restarted: dict[str, NotifyState] = {}
    timeline: list[tuple[str, str, datetime]] = [
        ("photos", "failed", START),
        ("music", "succeeded", START),
        ("photos", "failed", START + timedelta(hours=2)),
        ("photos", "overdue", START + timedelta(hours=30)),
        ("photos", "failed", START + timedelta(hours=31)),
        ("music", "overdue", START + timedelta(hours=40)),
        ("music", "failed", START + timedelta(hours=41)),
    ]
    for job, what, at in timeline:
        state = restarted.get(job, NotifyState())  # every event in a new process, as with cron
        if what == "overdue":
            decision = decide_overdue(state, job, now=at, last_success=None)
        else:
            summary = {"job": job, "run": f"{job}-{at:%H}", "status": what, "finished_at": at.isoformat()}
            decision = decide_run(state, summary)
        live[job] = decision.state
        restarted[job] = NotifyState.from_note(json.loads(json.dumps(decision.state.to_data())))
    assert restarted == live
    assert live["photos"].failure_sent_at == START + timedelta(hours=30)  # the daemon's reminder
    assert live["music"].overdue_sent_at == START + timedelta(hours=40)
    assert live["music"].failure_sent_at == START + timedelta(hours=41)


def test_sent_record_is_exact() -> None:
    decision = decide_run(NotifyState(), run("failed", START, 9))
    assert sent_record(decision.notices[0], ["json://hooks/${TOKEN}"]) == {
        "event": "failure",
        "at": "2026-11-28T02:00:00Z",
        "run": "run-9",
        "reminder": False,
        "targets": ["json://hooks/${TOKEN}"],
    }


def test_times_must_be_timestamps() -> None:
    assert parse_time("2026-11-28T02:00:00Z") == START
    assert parse_time("2026-11-28T03:00:00+01:00") == START
    assert parse_time(None) is None
    with pytest.raises(ValueError):
        parse_time("yesterday")
