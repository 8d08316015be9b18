"""The outbox with plain callables as deliveries: order, retries, bounds and shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from backupplan.notify.outbox import RETRY_DELAYS, Outbox, Undelivered
from backupplan.secrets import registry

FAST = (0.05, 0.1)


class Script:
    """A delivery that fails a given number of times, then succeeds; records each try."""

    def __init__(self, log: list[str], name: str, failures: int = 0) -> None:
        self.log, self.name, self.failures = log, name, failures

    def __call__(self) -> None:
        if self.failures:
            self.failures -= 1
            self.log.append(f"{self.name} failed")
            raise OSError(f"{self.name}: connection refused")
        self.log.append(f"{self.name} sent")


def collect() -> tuple[list[Undelivered], Callable[[Undelivered], None]]:
    failures: list[Undelivered] = []
    return failures, failures.append


def test_default_retry_policy_is_three_tries() -> None:
    assert RETRY_DELAYS == (2.0, 5.0)
    assert Outbox().tries == 3


def test_a_delivery_is_retried_until_it_succeeds() -> None:
    log: list[str] = []
    failures, on_failure = collect()
    outbox = Outbox(on_failure, retry_delays=FAST)
    assert outbox.submit("lane", "json://hook", "failure", Script(log, "a", failures=2))
    assert outbox.flush(5)
    assert log == ["a failed", "a failed", "a sent"]
    assert failures == []
    outbox.close(1)


def test_a_final_failure_is_reported_once_with_the_masked_error() -> None:
    registry.add("canary-0a1b2c3d", "HOOK_TOKEN")
    log: list[str] = []
    failures, on_failure = collect()
    outbox = Outbox(on_failure, retry_delays=FAST)

    def always() -> None:
        log.append("try")
        raise OSError("POST /hook/canary-0a1b2c3d: 500")

    outbox.submit("lane", "json://h/canary-0a1b2c3d", "failure", always, job="photos", run="r1")
    assert outbox.flush(5)
    assert log == ["try", "try", "try"]
    assert failures == [
        Undelivered("json://h/${HOOK_TOKEN}", "failure", "POST /hook/${HOOK_TOKEN}: 500", "photos", "r1", 3)
    ]
    assert failures[0].record() == {
        "event": "failure",
        "target": "json://h/${HOOK_TOKEN}",
        "error": "POST /hook/${HOOK_TOKEN}: 500",
        "run": "r1",
        "attempts": 3,
    }
    outbox.close(1)


@pytest.mark.slow
def test_one_destination_keeps_its_order_while_others_go_on() -> None:
    log: list[str] = []
    outbox = Outbox(retry_delays=(0.3,), workers=2)
    outbox.submit("slack", "slack", "failure", Script(log, "failure", failures=1))
    outbox.submit("slack", "slack", "recovery", Script(log, "recovery"))
    outbox.submit("mail", "mail", "failure", Script(log, "mail"))
    assert outbox.flush(5)
    # the recovery waited for the failure's retry; the mail did not wait for either
    assert log.index("mail sent") < log.index("failure sent")
    assert log.index("failure sent") < log.index("recovery sent")
    outbox.close(1)


def test_submit_returns_at_once_while_a_delivery_hangs() -> None:
    release = threading.Event()
    outbox = Outbox(retry_delays=FAST)
    started = time.monotonic()
    for _ in range(5):
        outbox.submit("lane", "hook", "failure", lambda: release.wait(5) and None)
    assert time.monotonic() - started < 0.2
    release.set()
    assert outbox.flush(5)
    outbox.close(1)


def test_a_full_queue_refuses_and_reports() -> None:
    release = threading.Event()
    failures, on_failure = collect()
    outbox = Outbox(on_failure, max_pending=2, workers=1)
    assert outbox.submit("a", "a", "failure", lambda: release.wait(5) and None)
    assert outbox.submit("b", "b", "failure", lambda: None)
    assert not outbox.submit("c", "json://c", "overdue", lambda: None)
    assert failures == [
        Undelivered("json://c", "overdue", "not sent: 2 notifications were already waiting", None, None, 0)
    ]
    release.set()
    assert outbox.flush(5)
    outbox.close(1)


@pytest.mark.slow
def test_close_is_bounded_and_reports_what_is_left() -> None:
    failures, on_failure = collect()
    outbox = Outbox(on_failure, retry_delays=(30.0,), workers=1)

    def refuse() -> None:
        raise OSError("connection refused")

    outbox.submit("a", "json://a", "failure", refuse, job="photos", run="r1")
    outbox.submit("a", "json://a", "recovery", lambda: None, job="photos", run="r2")
    time.sleep(0.1)  # the first try has failed; the retry waits 30 s
    started = time.monotonic()
    assert outbox.close(0.3) is False
    assert time.monotonic() - started < 1.0
    assert sorted((failure.event, failure.error) for failure in failures) == [
        ("failure", "not sent before backupplan exited (last error: connection refused)"),
        ("recovery", "not sent before backupplan exited"),
    ]
    assert not outbox.submit("a", "json://a", "success", lambda: None)
    assert failures[-1].error == "not sent: backupplan was exiting"


def test_a_failing_failure_handler_does_not_stop_deliveries(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []

    def broken(failure: Undelivered) -> None:
        raise RuntimeError("journal is read-only")

    outbox = Outbox(broken, retry_delays=())
    outbox.submit("a", "a", "failure", Script(log, "first", failures=1))
    outbox.submit("a", "a", "recovery", Script(log, "second"))
    assert outbox.flush(5)
    assert log == ["first failed", "second sent"]
    assert "the notification failure handler failed: RuntimeError('journal is read-only')" in caplog.text
    outbox.close(1)
