from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backupplan.notify.decide import Notice, NotifyState, decide_overdue, decide_run
from backupplan.notify.message import Message, job_page, ping_summary, render, render_test
from backupplan.secrets import registry

START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)

FAILED_RUN: dict[str, Any] = {
    "run": "20261128T020000Z-3f9a",
    "job": "photos",
    "status": "failed",
    "reason": "exit 23: some files could not be transferred",
    "trigger": "schedule",
    "started_at": "2026-11-28T02:00:00Z",
    "finished_at": "2026-11-28T02:00:41Z",
    "duration": 41.2,
    "exit_code": 23,
    "bytes": 1048576,
    "files": 12,
    "attempts": 3,
    "log": "logs/photos/20261128T020000Z-3f9a.log",
}


def test_failure_message_shows_every_fact_and_the_page() -> None:
    (notice,) = decide_run(NotifyState(), FAILED_RUN).notices
    message = render(notice, host="nas", site_url="https://backups.example.com/")
    assert message == Message(
        title="backupplan: photos failed on nas",
        body="\n".join(
            [
                "Job: photos",
                "Host: nas",
                "Status: failed: exit 23: some files could not be transferred",
                "Run: 20261128T020000Z-3f9a (3 attempts)",
                "Started: 2026-11-28 02:00:00 UTC",
                "Finished: 2026-11-28 02:00:41 UTC",
                "Duration: 41s",
                "Transferred: 1.0 MiB in 12 files",
                "Failing since: 2026-11-28 02:00:41 UTC (1 failed run)",
                "Log: logs/photos/20261128T020000Z-3f9a.log",
                "Details: https://backups.example.com/jobs/photos/",
            ]
        ),
        kind="failure",
    )


def test_reminder_and_timeout_titles() -> None:
    timed_out = {**FAILED_RUN, "status": "timed_out", "reason": "stopped after 4h"}
    (first,) = decide_run(NotifyState(), timed_out).notices
    assert render(first, host="nas").title == "backupplan: photos timed out on nas"
    reminder = Notice(
        "failure", "photos", START, run=FAILED_RUN, reminder=True, failed_runs=5, failing_since=START
    )
    assert (
        render(reminder, host="nas").title
        == "backupplan: photos is still failing (5 failed runs since 2026-11-28 02:00:00 UTC) on nas"
    )


def test_the_daemons_reminder_message() -> None:
    failing = decide_run(NotifyState(), FAILED_RUN).state
    (reminder,) = decide_overdue(
        failing, "photos", now=START + timedelta(days=2), last_success=START - timedelta(days=1)
    ).notices
    message = render(reminder, host="nas")
    assert message.title == (
        "backupplan: photos is still failing (1 failed run since 2026-11-28 02:00:41 UTC) on nas"
    )
    assert message.body.splitlines() == [
        "Job: photos",
        "Host: nas",
        "Status: failing: the last run finished at 2026-11-28T02:00:41Z",
        "Failing since: 2026-11-28 02:00:41 UTC (1 failed run)",
        "Last success: 2026-11-27 02:00:00 UTC",
    ]


def test_recovery_and_success_messages() -> None:
    failing = decide_run(NotifyState(), FAILED_RUN).state
    succeeded = {
        **FAILED_RUN,
        "run": "r2",
        "status": "warning",
        "reason": "exit 24: some source files vanished",
        "attempts": 1,
        "finished_at": "2026-11-29T02:00:10Z",
        "started_at": None,
        "duration": 10,
        "files": 1,
        "log": None,
    }
    recovery, success = decide_run(failing, succeeded).notices
    message = render(recovery, host="nas")
    assert message.title == "backupplan: photos recovered on nas"
    assert message.kind == "success"
    assert message.body.splitlines() == [
        "Job: photos",
        "Host: nas",
        "Status: warning: exit 24: some source files vanished (after 1 failed run)",
        "Run: r2",
        "Finished: 2026-11-29 02:00:10 UTC",
        "Duration: 10s",
        "Transferred: 1.0 MiB in 1 file",
        "Failing since: 2026-11-28 02:00:41 UTC (1 failed run)",
    ]
    assert render(success, host="nas").title == "backupplan: photos succeeded with warnings on nas"
    assert render(success, host="nas").kind == "warning"


def test_overdue_and_interrupted_messages() -> None:
    (overdue,) = decide_overdue(
        NotifyState(), "photos", now=START, last_success=START - timedelta(days=2)
    ).notices
    message = render(overdue, host="nas", site_url="https://b.example.com")
    assert message.title == "backupplan: photos is overdue on nas"
    assert message.body.splitlines() == [
        "Job: photos",
        "Host: nas",
        "Status: overdue: no successful run since 2026-11-26T02:00:00Z",
        "Last success: 2026-11-26 02:00:00 UTC",
        "Details: https://b.example.com/jobs/photos/",
    ]
    interrupted = Notice(
        "interrupted",
        "photos",
        START,
        run={"job": "photos", "run": "r9"},
        detail="a crash interrupted the run",
    )
    assert render(interrupted, host="nas").body.splitlines() == [
        "Job: photos",
        "Host: nas",
        "Status: interrupted: a crash interrupted the run",
        "Run: r9",
    ]


def test_messages_are_masked() -> None:
    registry.add("canary-7f3e9b1d", "NAS_PASSWORD")
    leaky = {**FAILED_RUN, "reason": "@ERROR: auth failed on module photos (key canary-7f3e9b1d)"}
    (notice,) = decide_run(NotifyState(), leaky).notices
    message = render(notice, host="nas")
    assert "canary" not in message.title + message.body
    assert "Status: failed: @ERROR: auth failed on module photos (key ${NAS_PASSWORD})" in message.body


def test_test_message_lists_the_targets_events() -> None:
    message = render_test(host="nas", events=("failure", "overdue"), job=None, plan="backups.yaml")
    assert message == Message(
        "backupplan: test message from nas",
        "This is a test message from backupplan on nas.\nPlan: backups.yaml\nScope: every job\n"
        "This target gets: failure, overdue",
        "info",
    )


def test_job_page_and_ping_summary() -> None:
    assert job_page(None, "photos") is None
    assert job_page("https://b.example.com/status/", "photos") == "https://b.example.com/status/jobs/photos/"
    assert ping_summary(FAILED_RUN) == (
        "failed in 41s, 1.0 MiB in 12 files, exit 23: some files could not be transferred"
    )
    assert ping_summary({"status": "succeeded"}) == "succeeded"
