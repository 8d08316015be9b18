"""The outbox: notifications and pings leave the backup's path and are delivered in the background.

`submit` only appends to a bounded in-memory queue and returns at once; worker threads deliver.
Deliveries to one destination (a "lane": one notification URL, one ping URL) go out in the order
they were submitted, so a recovery never overtakes the failure it follows and a success ping never
overtakes its start ping, even while one of them waits for a retry. Different destinations do not
wait for each other beyond the number of workers.

A failed try is retried after each of `retry_delays` (default 2 s, then 5 s: three tries in all);
the last failure is logged and handed to `on_failure` as an `Undelivered`, which the caller
journals as `notify.failed`. Short-lived processes call `close(timeout)` before exiting: it waits
for the queue to drain, at most `timeout` seconds, then reports what is left as undelivered.

A delivery submitted with `on_settled` is durable (backupplan.notify.spool): it is told
`on_settled(True)` once it was sent or finally failed (forget it), `on_settled(False)` when it was
left unsent at exit or refused (keep it: the next start sends it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backupplan.secrets import mask

RETRY_DELAYS = (2.0, 5.0)
MAX_PENDING = 1000
WORKERS = 2

logger = logging.getLogger("backupplan.notify")


@dataclass(frozen=True)
class Undelivered:
    """A delivery that finally failed: the masked target label, the event, the masked error."""

    target: str
    event: str
    error: str
    job: str | None = None
    run: str | None = None
    attempts: int = 0

    def record(self) -> dict[str, object]:
        """Return the data of the `notify.failed` journal record for this failure."""
        return {
            "event": self.event,
            "target": self.target,
            "error": self.error,
            "run": self.run,
            "attempts": self.attempts,
        }


FailureCallback = Callable[[Undelivered], None]


@dataclass
class _Delivery:
    lane: str
    target: str
    event: str
    send: Callable[[], None]
    job: str | None
    run: str | None
    on_settled: Callable[[bool], None] | None = None
    tries: int = 0
    due: float = 0.0
    last_error: str = ""
    abandoned: bool = False
    settled: bool = False


class Outbox:
    """A bounded background queue of deliveries with per-destination order and retries."""

    def __init__(
        self,
        on_failure: FailureCallback | None = None,
        *,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        workers: int = WORKERS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._on_failure = on_failure
        self._retry_delays = tuple(retry_delays)
        self._worker_count = max(1, workers)
        self._max_pending = max_pending
        self._condition = threading.Condition()
        self._lanes: dict[str, deque[_Delivery]] = {}
        self._in_flight: dict[str, _Delivery] = {}
        self._pending = 0
        self._closed = False
        self._threads: list[threading.Thread] = []

    @property
    def tries(self) -> int:
        """How many times one delivery is tried in all."""
        return len(self._retry_delays) + 1

    @property
    def pending(self) -> int:
        """Deliveries queued or in flight."""
        with self._condition:
            return self._pending

    def submit(
        self,
        lane: str,
        target: str,
        event: str,
        send: Callable[[], None],
        *,
        job: str | None = None,
        run: str | None = None,
        on_settled: Callable[[bool], None] | None = None,
    ) -> bool:
        """Queue `send` (one try; it raises on failure) for the destination `lane`; return at once.

        `target` is the masked label shown in logs and reports. Return False, after reporting it
        undelivered, when the outbox is closed or holds `max_pending` deliveries already.
        """
        delivery = _Delivery(lane, mask(target), event, send, job, run, on_settled)
        refusal = ""
        with self._condition:
            if self._closed:
                refusal = "not sent: backupplan was exiting"
            elif self._pending >= self._max_pending:
                refusal = f"not sent: {self._max_pending} notifications were already waiting"
            else:
                self._lanes.setdefault(lane, deque()).append(delivery)
                self._pending += 1
                self._start_workers()
                self._condition.notify()
        if refusal:
            self._report(delivery, refusal, kept=True)
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery is done (sent or finally failed), at most `timeout`
        seconds; return True when the queue is empty."""
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout=max(0.0, timeout))

    def close(self, timeout: float) -> bool:
        """Flush for at most `timeout` seconds, then stop: whatever is still queued or in flight is
        reported undelivered. Return True when everything was delivered or finally failed in time."""
        drained = self.flush(timeout)
        with self._condition:
            self._closed = True
            left = [delivery for lane in self._lanes.values() for delivery in lane]
            left += [delivery for delivery in self._in_flight.values() if not delivery.settled]
            for delivery in left:
                delivery.abandoned = True
            self._lanes.clear()
            self._pending -= len(left)
            self._condition.notify_all()
        for delivery in left:
            reason = "not sent before backupplan exited"
            if delivery.last_error:
                reason += f" (last error: {delivery.last_error})"
            self._report(delivery, reason, kept=True)
        for thread in self._threads:
            thread.join(timeout=0.2)
        return drained and not left

    def _start_workers(self) -> None:
        # Called with the lock held; threads start on first use so an idle outbox costs nothing.
        if self._threads:
            return
        for number in range(self._worker_count):
            thread = threading.Thread(target=self._work, name=f"backupplan-notify-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _next(self) -> _Delivery | None:
        with self._condition:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                chosen: str | None = None
                earliest = float("inf")
                for lane, queue in self._lanes.items():
                    if lane in self._in_flight or not queue:
                        continue
                    if queue[0].due < earliest:
                        chosen, earliest = lane, queue[0].due
                if chosen is not None and earliest <= now:
                    delivery = self._lanes[chosen].popleft()
                    if not self._lanes[chosen]:
                        del self._lanes[chosen]
                    self._in_flight[chosen] = delivery
                    return delivery
                self._condition.wait(None if chosen is None else earliest - now)

    def _work(self) -> None:
        while (delivery := self._next()) is not None:
            error = ""
            try:
                delivery.send()
            except Exception as problem:  # any failure of a delivery is reported, never raised
                error = mask(str(problem)) or type(problem).__name__
            self._finish(delivery, error)

    def _finish(self, delivery: _Delivery, error: str) -> None:
        delivery.tries += 1
        with self._condition:
            if delivery.abandoned:
                self._in_flight.pop(delivery.lane, None)
                self._condition.notify_all()
                return
            if error and delivery.tries < self.tries and not self._closed:
                retry_in = self._retry_delays[delivery.tries - 1]
                delivery.due = time.monotonic() + retry_in
                delivery.last_error = error
                self._in_flight.pop(delivery.lane, None)
                self._lanes.setdefault(delivery.lane, deque()).appendleft(delivery)
                self._condition.notify_all()
                retry = True
            else:
                # Settled: close() leaves it to this thread, which reports it before `flush` returns.
                delivery.settled = True
                retry = False
        if retry:
            logger.warning(
                "%s to %s failed (try %d of %d): %s; trying again in %gs",
                delivery.event,
                delivery.target,
                delivery.tries,
                self.tries,
                error,
                retry_in,
            )
            return
        if error:
            self._report(delivery, error)
        else:
            logger.info("sent %s to %s", delivery.event, delivery.target)
            _settle(delivery, done=True)
        with self._condition:
            self._in_flight.pop(delivery.lane, None)
            self._pending -= 1
            self._condition.notify_all()

    def _report(self, delivery: _Delivery, error: str, *, kept: bool = False) -> None:
        """Report a delivery that will not be tried again here; a durable one that is `kept` stays
        in the spool for the next start, any other is forgotten."""
        if kept and delivery.on_settled is not None:
            error += "; kept in the outbox: it is sent at the next start"
        _settle(delivery, done=not kept)
        failure = Undelivered(
            delivery.target, delivery.event, mask(error), delivery.job, delivery.run, delivery.tries
        )
        logger.error(
            "%s to %s not delivered after %d tr%s: %s",
            failure.event,
            failure.target,
            failure.attempts,
            "y" if failure.attempts == 1 else "ies",
            failure.error,
        )
        if self._on_failure is not None:
            try:
                self._on_failure(failure)
            except Exception as problem:  # the caller's journal problem must not stop the deliveries
                logger.error("the notification failure handler failed: %s", mask(repr(problem)))


def _settle(delivery: _Delivery, *, done: bool) -> None:
    if delivery.on_settled is None:
        return
    try:
        delivery.on_settled(done)
    except Exception as problem:  # the spool's trouble must not stop the deliveries
        logger.error("the outbox could not update its spool: %s", mask(repr(problem)))
