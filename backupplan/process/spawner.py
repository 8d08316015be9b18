"""One long-lived thread that runs every child start.

A child's parent-death signal (setpriv --pdeathsig) fires when the *thread* that forked it exits,
not the process. Forking every child from this thread, which lives as long as the process, means a
child never dies because the thread that asked for it (an APScheduler worker, a thread running
asyncio.run) ended, and always dies with backupplan.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Result = TypeVar("Result")


class Spawner(Generic[Result]):
    """Runs submitted callables, one at a time, on its own daemon thread (started on first use, and
    again in a forked child process, which inherits no threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner = -1
        self._queue: queue.SimpleQueue[tuple[Callable[[], Result], concurrent.futures.Future[Result]]]
        self._queue = queue.SimpleQueue()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()  # it may have been held by a thread the fork did not copy
        self._owner = -1

    def submit(self, work: Callable[[], Result]) -> concurrent.futures.Future[Result]:
        """Given a callable, run it on the spawner thread; return the future of its result."""
        future: concurrent.futures.Future[Result] = concurrent.futures.Future()
        with self._lock:
            if self._owner != os.getpid():
                self._queue = queue.SimpleQueue()
                threading.Thread(
                    target=self._serve, args=(self._queue,), name="backupplan-spawner", daemon=True
                ).start()
                self._owner = os.getpid()
            self._queue.put((work, future))
        return future

    @staticmethod
    def _serve(
        requests: queue.SimpleQueue[tuple[Callable[[], Result], concurrent.futures.Future[Result]]],
    ) -> None:
        while True:
            work, future = requests.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work())
            except BaseException as error:  # handed to the caller, never lost in this thread
                future.set_exception(error)
