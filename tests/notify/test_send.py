"""Targets from the plan, and real deliveries through apprise to a receiver on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest

from backupplan.notify.message import Message
from backupplan.notify.send import DeliveryError, Target, deliver, merge_targets, plan_targets
from backupplan.plan.model import NotifyTarget
from backupplan.secrets import registry

from .conftest import Receiver

MESSAGE = Message("backupplan: photos failed on nas", "Job: photos\nStatus: failed", "failure")

PLAN = """\
version: 1
settings:
  notify:
    - json://hooks.example.com/all
    - {url: "ntfys://ntfy.sh/${TOPIC}", on: [failure]}
jobs:
  photos:
    engine: rsync
    source: /data/photos
    destination: /backup/photos
    notify:
      - {url: "ntfys://ntfy.sh/${TOPIC}", on: [success, failure]}
      - mailto://me:${SMTP_PASSWORD}@example.com
  music:
    engine: rsync
    source: /data/music
    destination: /backup/music
    notify: [json://hooks.example.com/music]
"""


def test_identical_urls_merge_and_unite_their_events() -> None:
    targets = merge_targets(
        [NotifyTarget(url="json://a", on=["overdue"]), NotifyTarget(url="json://b")],
        [NotifyTarget(url=" json://a", on=["success", "failure"])],
    )
    assert targets == [
        Target("json://a", ("failure", "success", "overdue")),
        Target("json://b", ("failure", "recovery", "overdue")),
    ]
    assert targets[0].wants("success") and not targets[0].wants("recovery")


def test_plan_targets_per_job_and_for_the_whole_plan(write_plan, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOPIC", "topic-8c1f44aa")
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-canary-91")
    plan = write_plan(PLAN).plan
    photos = plan_targets(plan, "photos")
    assert [(target.label, target.on) for target in photos] == [
        ("json://hooks.example.com/all", ("failure", "recovery", "overdue")),
        ("ntfys://ntfy.sh/${TOPIC}", ("failure", "success")),
        ("mailto://me:***@example.com", ("failure", "recovery", "overdue")),
    ]
    assert photos[1].url == "ntfys://ntfy.sh/topic-8c1f44aa"
    assert [target.label for target in plan_targets(plan, "music")] == [
        "json://hooks.example.com/all",
        "ntfys://ntfy.sh/${TOPIC}",
        "json://hooks.example.com/music",
    ]
    assert len(plan_targets(plan, None)) == 4
    assert [target.label for target in plan_targets(plan, "removed-job")] == [
        "json://hooks.example.com/all",
        "ntfys://ntfy.sh/${TOPIC}",
    ]


def test_json_webhook_gets_apprise_json(receiver: Receiver) -> None:
    deliver(f"json://{receiver.url}/hooks/backup", MESSAGE)
    (request,) = receiver.received
    assert (request.method, request.path) == ("POST", "/hooks/backup")
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "version": "1.0",
        "title": "backupplan: photos failed on nas",
        "message": "Job: photos\nStatus: failed",
        "attachments": [],
        "type": "failure",
    }


def test_an_answer_500_is_a_delivery_error(receiver: Receiver) -> None:
    receiver.status = 500
    with pytest.raises(DeliveryError) as raised:
        deliver(f"json://{receiver.url}/hook", MESSAGE)
    assert str(raised.value) == "Failed to send JSON POST notification: Internal server error., error=500."
    assert len(receiver.received) == 1  # apprise itself does not retry: the outbox does


def test_a_receiver_that_is_down_is_a_delivery_error(closed_port: int) -> None:
    with pytest.raises(DeliveryError) as raised:
        deliver(f"json://127.0.0.1:{closed_port}/hook", MESSAGE)
    assert str(raised.value) == "A Connection error occurred sending JSON notification to 127.0.0.1."


def test_an_unknown_url_says_so_without_its_secret() -> None:
    registry.add("nope-canary-77", "HOOK")
    with pytest.raises(DeliveryError) as raised:
        deliver("nosuchservice://nope-canary-77@host", MESSAGE)
    assert str(raised.value) == (
        "nosuchservice://${HOOK}@host is not a notification URL that apprise understands "
        "(check its scheme and fields; docs/notifications.md has examples)"
    )


def test_apprise_log_lines_are_masked(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    registry.add("token-canary-5e6f7a8b", "HOOK_TOKEN")
    caplog.set_level(logging.DEBUG)
    deliver(f"json://{receiver.url}/hook/token-canary-5e6f7a8b", MESSAGE)
    receiver.status = 500
    with pytest.raises(DeliveryError):
        deliver(f"json://{receiver.url}/hook/token-canary-5e6f7a8b", MESSAGE)
    # the token reached the receiver (that is what it is for) but no log line
    assert [request.route for request in receiver.received] == ["/hook/token-canary-5e6f7a8b"] * 2
    assert "json://127.0.0.1" in caplog.text  # apprise did log the URL, masked
    assert "token-canary" not in caplog.text
    assert "${HOOK_TOKEN}" in caplog.text


def test_apprise_is_imported_on_first_delivery_only() -> None:
    import subprocess
    import sys

    from tests.conftest import backupplan_env

    probe = (
        "import sys\n"
        "from backupplan.cli import cli\n"
        "from backupplan.notify.hub import Notifications\n"
        "from backupplan.commands.notify import notify_test_command\n"
        "print('apprise' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=backupplan_env(), capture_output=True, text=True, check=True
    )
    assert result.stdout == "False\n"
