"""Durable notifications: spooled (0600, no secret) before they are sent, removed once sent or
finally failed, kept when the process exits first, and sent by the next process: in-process with a
real receiver, and end to end with `kill -9` while the receiver is down."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backupplan.notify.decide import NotifyState
from backupplan.notify.hub import Notifications
from backupplan.notify.outbox import Outbox, Undelivered
from backupplan.notify.spool import Spool, url_digest
from backupplan.secrets import registry
from tests.runner.helpers import of_type, start_run, write_plan
from tests.trees import build

from .conftest import Receiver
from .test_hub import FAST, plan_text, summary


def spooled(folder: Path) -> list[dict[str, object]]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def test_a_message_is_spooled_until_it_is_sent(
    receiver: Receiver, write_plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOOK_TOKEN", "CANARY-spool-token")
    plan = write_plan(plan_text([f"json://{receiver.url}/${{HOOK_TOKEN}}"]))
    spool = Spool(tmp_path / "outbox")
    receiver.status = 500  # held back: the message waits for its retry
    notifications = Notifications(plan.plan, host="nas", outbox=Outbox(retry_delays=(0.5, 0.5)), spool=spool)
    notifications.run_finished(NotifyState(), summary("failed", 1))
    (entry,) = spooled(tmp_path / "outbox")
    assert entry["event"] == "failure" and entry["job"] == "photos"
    assert entry["url_sha256"] == url_digest(f"json://{receiver.url}/CANARY-spool-token")
    assert entry["target"] == f"json://{receiver.url}/${{HOOK_TOKEN}}"  # masked, as in the journal
    assert "CANARY" not in (tmp_path / "outbox").joinpath(f"{entry['id']}.json").read_text()
    (path,) = (tmp_path / "outbox").glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(spool.orphans()) == []  # held by this process while it is in flight
    receiver.status = 200
    assert notifications.close(5.0) is True
    assert spooled(tmp_path / "outbox") == []
    (received,) = receiver.received[-1:]
    assert received.path == "/CANARY-spool-token"
    assert f"backupplan message {entry['id']}" in received.json()["message"]


def test_unsent_at_exit_it_is_sent_by_the_next_process(
    receiver: Receiver, write_plan, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(plan_text([f"json://{receiver.url}/hook"]))
    receiver.status = 500
    failures: list[Undelivered] = []
    first = Notifications(
        plan.plan, host="nas", outbox=Outbox(failures.append), spool=Spool(tmp_path / "outbox")
    )
    first.run_finished(NotifyState(), summary("failed", 1))
    assert first.close(0.3) is False
    (failure,) = failures
    assert failure.error.endswith("kept in the outbox: it is sent at the next start")
    (entry,) = spooled(tmp_path / "outbox")

    receiver.status = 200
    before = len(receiver.received)
    second = Notifications(
        plan.plan, host="nas", outbox=Outbox(retry_delays=FAST), spool=Spool(tmp_path / "outbox")
    )
    assert second.replay() == 1
    assert second.close(5.0) is True
    (received,) = receiver.received[before:]
    assert received.json()["message"].count(f"backupplan message {entry['id']}") == 1  # not stamped twice
    assert spooled(tmp_path / "outbox") == []


def test_a_finally_failed_message_is_reported_and_forgotten(
    write_plan, tmp_path: Path, closed_port: int
) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(plan_text([f"json://127.0.0.1:{closed_port}/hook"]))
    failures: list[Undelivered] = []
    notifications = Notifications(
        plan.plan,
        host="nas",
        outbox=Outbox(failures.append, retry_delays=FAST),
        spool=Spool(tmp_path / "outbox"),
    )
    notifications.run_finished(NotifyState(), summary("failed", 1))
    assert notifications.close(5.0) is True
    assert [failure.event for failure in failures] == ["failure"]
    assert spooled(tmp_path / "outbox") == []


def test_replay_gives_up_old_messages_and_targets_that_left_the_plan(write_plan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "outbox"
    spool = Spool(folder)
    plan = write_plan(plan_text(["json://127.0.0.1:9/hook"]))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    message = {"title": "t", "body": "b", "kind": "failure"}
    for number, (queued, url) in enumerate(
        [(now - timedelta(days=8), "json://127.0.0.1:9/hook"), (now, "json://gone.example/hook")]
    ):
        claim = spool.add({
            "id": f"m{number}", "queued_at": queued.isoformat(), "url_sha256": url_digest(url),
            "target": f"target {number}", "event": "failure", "job": "photos", "run": None, "message": message,
        })  # fmt: skip
        spool.release(claim, done=False)
    failures: list[Undelivered] = []
    notifications = Notifications(plan.plan, host="nas", on_failure=failures.append, spool=spool)
    assert notifications.replay(now) == 0
    assert sorted((failure.target, failure.error) for failure in failures) == [
        ("target 0", "not sent within a week; given up"),
        ("target 1", "its target is no longer in the plan; not sent"),
    ]
    assert spooled(folder) == []


def test_a_damaged_spool_file_is_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    folder.mkdir(mode=0o700)
    (folder / "torn.json").write_text('{"id": "x", "queu')
    assert list(Spool(folder).orphans()) == []
    assert list(folder.iterdir()) == []


@pytest.mark.slow
def test_kill_9_with_a_notification_queued_and_the_receiver_down(
    tmp_path: Path, closed_port: int, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    """The receiver is down while the run's failure notice waits for its retry; the process is
    killed; the receiver comes up; the next `run` delivers the notice, exactly once."""
    build(tmp_path / "src", {b"a.txt": b"alpha\n"})
    plan = write_plan(
        tmp_path,
        "  broken:\n    engine: rsync\n    source: missing-folder\n    destination: out\n"
        "  other:\n    engine: rsync\n    source: src\n    destination: out2\n",
        settings=f"  notify: [{{url: 'json://127.0.0.1:{closed_port}/hook', on: [failure]}}]\n",
    )
    state = tmp_path / ".backupplan"
    process = start_run(plan, "broken")
    deadline = time.monotonic() + 20
    while not (of_type(state, "run.finished") and list((state / "outbox").glob("*.json"))):
        assert time.monotonic() < deadline, "the failure was not spooled"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    (left,) = spooled(state / "outbox")

    receiver = Receiver(port=closed_port)
    receiver.thread.start()
    try:
        result = run_backupplan(["run", "--plan", str(plan), "other"])
        assert result.returncode == 0, result.stderr
        received = receiver.settle(0.5)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=5)
    (message,) = received
    body = message.json()
    assert "broken" in body["title"] and f"backupplan message {left['id']}" in body["message"]
    assert spooled(state / "outbox") == []
    registry.clear()
