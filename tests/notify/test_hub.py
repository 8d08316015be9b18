"""The calls a run and the daemon make, end to end: real apprise deliveries and real pings to a
receiver on 127.0.0.1, a receiver that is down, and one that answers 500."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backupplan.notify.decide import NotifyState, decide_run
from backupplan.notify.hub import Notifications
from backupplan.notify.outbox import Outbox, Undelivered

from .conftest import Receiver

START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
FAST = (0.05, 0.1)


def plan_text(notify: list[str], ping: str | None = None, site_url: str | None = None) -> str:
    lines = ["version: 1", "settings:"]
    if site_url:
        lines.append(f"  site_url: {site_url}")
    lines.append("  notify:")
    lines += [f"    - {target}" for target in notify]
    lines += [
        "jobs:",
        "  photos:",
        "    engine: rsync",
        "    source: /data/photos",
        "    destination: /backup/photos",
    ]
    if ping:
        lines.append(f"    ping: {ping}")
    return "\n".join(lines) + "\n"


def summary(status: str, number: int, **extra: Any) -> dict[str, Any]:
    finished = START + timedelta(hours=number)
    return {
        "run": f"run-{number}",
        "job": "photos",
        "status": status,
        "reason": None if status == "succeeded" else "exit 10: error in socket IO",
        "started_at": (finished - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": 30.0,
        "exit_code": 0 if status == "succeeded" else 10,
        "bytes": 2048,
        "files": 2,
        "attempts": 3,
        "log": f"logs/photos/run-{number}.log",
        **extra,
    }


def hub(plan: Any, failures: list[Undelivered] | None = None, **options: Any) -> Notifications:
    on_failure = None if failures is None else failures.append
    return Notifications(plan.plan, host="nas", outbox=Outbox(on_failure, retry_delays=FAST), **options)


def test_three_failed_runs_then_a_success_send_one_failure_and_one_recovery(
    receiver: Receiver, write_plan
) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(
        plan_text(
            [f"json://{receiver.url}/hook"],
            ping=f"http://{receiver.url}/ping/0f1e2d3c",
            site_url="https://backups.example.com",
        )
    )
    notifications = hub(plan)
    state = NotifyState()
    journal: list[dict[str, Any]] = []
    for number, status in enumerate(["failed", "failed", "failed", "succeeded"]):
        notifications.run_started("photos", f"run-{number}")
        report = notifications.run_finished(state, summary(status, number), log_tail=f"log of run {number}\n")
        state = report.state
        journal += report.records()
    assert notifications.close(5)

    hooks = [request.json() for request in receiver.received if request.route == "/hook"]
    assert [(hook["title"], hook["type"]) for hook in hooks] == [
        ("backupplan: photos failed on nas", "failure"),
        ("backupplan: photos recovered on nas", "success"),
    ]
    assert hooks[0]["message"] == "\n".join(
        [
            "Job: photos",
            "Host: nas",
            "Status: failed: exit 10: error in socket IO",
            "Run: run-0 (3 attempts)",
            "Started: 2026-11-28 01:59:30 UTC",
            "Finished: 2026-11-28 02:00:00 UTC",
            "Duration: 30s",
            "Transferred: 2.0 KiB in 2 files",
            "Failing since: 2026-11-28 02:00:00 UTC (1 failed run)",
            "Log: logs/photos/run-0.log",
            "Details: https://backups.example.com/jobs/photos/",
        ]
    )
    assert "Status: succeeded (after 3 failed runs)" in hooks[1]["message"]
    pings = [
        (request.route, request.body.decode()) for request in receiver.received if request.route != "/hook"
    ]
    assert pings == [
        ("/ping/0f1e2d3c/start", "backupplan run run-0 started on nas"),
        ("/ping/0f1e2d3c/fail", "log of run 0\n"),
        ("/ping/0f1e2d3c/start", "backupplan run run-1 started on nas"),
        ("/ping/0f1e2d3c/fail", "log of run 1\n"),
        ("/ping/0f1e2d3c/start", "backupplan run run-2 started on nas"),
        ("/ping/0f1e2d3c/fail", "log of run 2\n"),
        ("/ping/0f1e2d3c/start", "backupplan run run-3 started on nas"),
        ("/ping/0f1e2d3c", "log of run 3\n"),
    ]
    label = f"json://{receiver.url}/hook"
    assert journal == [
        {
            "event": "failure",
            "at": "2026-11-28T02:00:00Z",
            "run": "run-0",
            "reminder": False,
            "targets": [label],
        },
        {
            "event": "recovery",
            "at": "2026-11-28T05:00:00Z",
            "run": "run-3",
            "reminder": False,
            "targets": [label],
        },
    ]


def test_success_goes_only_to_targets_that_ask_for_it(receiver: Receiver, write_plan) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(
        plan_text([f"json://{receiver.url}/quiet", f"{{url: 'json://{receiver.url}/all', on: [success]}}"])
    )
    notifications = hub(plan)
    report = notifications.run_finished(NotifyState(), summary("succeeded", 0))
    assert notifications.close(5)
    assert [request.route for request in receiver.received] == ["/all"]
    assert receiver.received[0].json()["title"] == "backupplan: photos succeeded on nas"
    assert [entry.targets for entry in report.sent] == [(f"json://{receiver.url}/all",)]


def test_a_failure_nobody_gets_is_still_journaled_for_the_rules(write_plan) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(plan_text(["{url: 'json://hooks.example.com/x', on: [success]}"]))
    notifications = hub(plan)
    report = notifications.run_finished(NotifyState(), summary("failed", 0))
    assert notifications.outbox.pending == 0  # nothing was queued
    assert report.records() == [
        {"event": "failure", "at": "2026-11-28T02:00:00Z", "run": "run-0", "reminder": False, "targets": []}
    ]
    notifications.close(1)


@pytest.mark.slow
def test_a_down_or_failing_receiver_neither_changes_nor_delays_the_run(
    receiver: Receiver, closed_port: int, write_plan
) -> None:  # type: ignore[no-untyped-def]
    receiver.status = 500
    plan = write_plan(
        plan_text(
            [f"json://127.0.0.1:{closed_port}/down", f"json://{receiver.url}/broken"],
            ping=f"http://127.0.0.1:{closed_port}/ping/0f1e2d3c",
        )
    )
    failures: list[Undelivered] = []
    notifications = hub(plan, failures)
    run = summary("failed", 0)
    before = dict(run)
    started = time.monotonic()
    notifications.run_started("photos", "run-0")
    report = notifications.run_finished(NotifyState(), run, log_tail="tail\n")
    assert time.monotonic() - started < 0.2  # the caller never waits for a delivery
    assert run == before
    assert report.state == decide_run(NotifyState(), run).state  # as if everything had been delivered
    assert notifications.flush(10)
    assert len(receiver.received) == 3  # tried three times
    assert {(failure.target, failure.event, failure.error, failure.attempts) for failure in failures} == {
        (
            f"http://127.0.0.1:{closed_port}/ping/0f1e2d3c",
            "ping fail",
            f"http://127.0.0.1:{closed_port}/ping/0f1e2d3c/fail: [Errno 111] Connection refused",
            3,
        ),
        (
            f"http://127.0.0.1:{closed_port}/ping/0f1e2d3c",
            "ping start",
            f"http://127.0.0.1:{closed_port}/ping/0f1e2d3c/start: [Errno 111] Connection refused",
            3,
        ),
        (
            f"json://127.0.0.1:{closed_port}/down",
            "failure",
            "A Connection error occurred sending JSON notification to 127.0.0.1.",
            3,
        ),
        (
            f"json://{receiver.url}/broken",
            "failure",
            "Failed to send JSON POST notification: Internal server error., error=500.",
            3,
        ),
    }
    assert len(failures) == 4
    assert {(failure.job, failure.run) for failure in failures} == {("photos", "run-0")}
    notifications.close(1)


@pytest.mark.slow
def test_close_bounds_the_wait_of_a_short_lived_process(receiver: Receiver, write_plan) -> None:  # type: ignore[no-untyped-def]
    receiver.status = 500
    plan = write_plan(plan_text([f"json://{receiver.url}/broken"]))
    failures: list[Undelivered] = []
    notifications = Notifications(plan.plan, host="nas", on_failure=failures.append)  # 2 s, 5 s backoff
    notifications.run_finished(NotifyState(), summary("failed", 0))
    started = time.monotonic()
    assert notifications.close(0.5) is False
    assert time.monotonic() - started < 1.5
    assert [(failure.event, failure.error) for failure in failures] == [
        (
            "failure",
            "not sent before backupplan exited (last error: "
            "Failed to send JSON POST notification: Internal server error., error=500.)",
        )
    ]


def test_secrets_reach_the_receiver_but_no_log_line_or_record(
    receiver: Receiver,
    closed_port: int,
    write_plan,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOOK_TOKEN", "hook-canary-4d5e6f")
    monkeypatch.setenv("HC_UUID", "hc-canary-0a9b8c")
    caplog.set_level(logging.DEBUG)
    plan = write_plan(
        plan_text(
            [
                f"json://{receiver.url}/hook/${{HOOK_TOKEN}}",
                f"json://127.0.0.1:{closed_port}/${{HOOK_TOKEN}}",
            ],
            ping=f"http://{receiver.url}/${{HC_UUID}}",
        )
    )
    failures: list[Undelivered] = []
    notifications = hub(plan, failures)
    run = summary("failed", 0, reason="rsync: auth failed (password hook-canary-4d5e6f)")
    report = notifications.run_finished(NotifyState(), run, log_tail="@ERROR: hook-canary-4d5e6f rejected\n")
    assert notifications.close(5)

    routes = sorted(request.route for request in receiver.received)
    assert routes == ["/hc-canary-0a9b8c/fail", "/hook/hook-canary-4d5e6f"]  # tokens do their job
    hook = next(request for request in receiver.received if request.route.startswith("/hook"))
    ping = next(request for request in receiver.received if request.route.endswith("/fail"))
    assert "Status: failed: rsync: auth failed (password ${HOOK_TOKEN})" in hook.json()["message"]
    assert ping.body == b"@ERROR: ${HOOK_TOKEN} rejected\n"
    # nothing backupplan logs, journals or reports carries a secret
    assert caplog.records, "deliveries were logged"
    everything = caplog.text + repr(report.records()) + repr([failure.record() for failure in failures])
    assert "canary" not in everything
    assert f"json://127.0.0.1:{closed_port}/${{HOOK_TOKEN}}" in everything


def test_overdue_is_sent_once_per_episode(receiver: Receiver, write_plan) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(plan_text([f"json://{receiver.url}/hook"], ping=f"http://{receiver.url}/ping/x"))
    notifications = hub(plan)
    first = notifications.overdue(NotifyState(), "photos", now=START, last_success=START - timedelta(days=2))
    second = notifications.overdue(first.state, "photos", now=START + timedelta(hours=5), last_success=None)
    assert [entry.notice.event for entry in first.sent + second.sent] == ["overdue"]
    recovered = notifications.run_finished(second.state, summary("succeeded", 6))
    third = notifications.overdue(recovered.state, "photos", now=START + timedelta(days=3), last_success=None)
    assert notifications.close(5)
    titles = [request.json()["title"] for request in receiver.received if request.route == "/hook"]
    assert titles == [
        "backupplan: photos is overdue on nas",
        "backupplan: photos recovered on nas",
        "backupplan: photos is overdue on nas",
    ]
    assert [entry.notice.event for entry in third.sent] == ["overdue"]
    # overdue sends no ping: the monitor has its own schedule; the success run did ping
    assert [request.route for request in receiver.received if request.route.startswith("/ping")] == [
        "/ping/x"
    ]


def test_a_crash_interruption_is_reported_and_pinged_as_failed(receiver: Receiver, write_plan) -> None:  # type: ignore[no-untyped-def]
    target = f"{{url: 'json://{receiver.url}/hook', on: [interrupted]}}"
    plan = write_plan(plan_text([target], ping=f"http://{receiver.url}/ping/x"))
    notifications = hub(plan)
    report = notifications.interrupted(NotifyState(), "photos", run_id="run-5", at=START)
    assert notifications.close(5)
    assert report.records() == [
        {
            "event": "interrupted",
            "at": "2026-11-28T02:00:00Z",
            "run": "run-5",
            "reminder": False,
            "targets": [f"json://{receiver.url}/hook"],
        }
    ]
    by_route = {request.route: request for request in receiver.received}
    assert by_route["/hook"].json()["title"] == "backupplan: photos was interrupted on nas"
    assert by_route["/ping/x/fail"].body == b"backupplan run run-5: a crash interrupted the run"
