"""Starting runs the same way for `apply` and the daemon: claim, wait for the network and a free
place, run, remember a failure's retry time.

1. *Claim*: the job's lock is taken at once, before any waiting, so that a job queued here is busy
   for every other process too. A job already claimed (here or elsewhere) is not started: its slot
   is journaled as `run.skipped {reason: overlap}`.
2. A paused job (paused from another terminal meanwhile) is skipped as `paused`.
3. A remote job waits for `settings.network_check`; when the network does not answer in time the
   run is journaled as `run.skipped {reason: network}` and retried like a failed run.
4. At most `settings.max_parallel` runs go at once, across every trigger.
5. The run itself is the runner's Session.run. A failed, timed-out or network-skipped run leaves a
   `job.note {"retry": …}`: when the job may be tried again (see `retry_delay`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from backupplan.errors import BackupplanError, JobBusyError
from backupplan.journal.records import format_timestamp, parse_timestamp
from backupplan.scheduler.due import CLAIMED_HERE, RETRY_NOTE
from backupplan.scheduler.network import NetworkGate, needs_network
from backupplan.scheduler.reconcile import Launch

if TYPE_CHECKING:
    from backupplan.journal import JobLock, Journal
    from backupplan.plan.load import LoadedPlan
    from backupplan.plan.model import Retries
    from backupplan.runner.results import RunResult
    from backupplan.runner.session import Session
    from backupplan.scheduler.clock import Clock

RETRY_CAP = 24 * 3600.0  # a failing job is tried again at least daily (and at every slot anyway)


def retry_delay(retries: Retries, failures: int) -> float:
    """How long after its `failures`-th failed run in a row a job is tried again: the retry
    policy's longest wait (`max_backoff`), doubled for each further failure, at most a day."""
    return float(min(RETRY_CAP, retries.max_backoff * 2.0 ** max(0, failures - 1)))


@dataclass(frozen=True)
class Outcome:
    """How a launch ended: a run's result, or a skip (overlap, paused, network) with its message."""

    launch: Launch
    result: RunResult | None = None
    skipped: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """A run that succeeded, or a skip that is nobody's fault (overlap, paused)."""
        if self.result is not None:
            return self.result.ok
        return self.skipped in ("overlap", "paused", None)


class _Limit:
    """A semaphore whose size is read at each acquisition (settings.max_parallel after a reload)."""

    def __init__(self, size: Callable[[], int]) -> None:
        self._size = size
        self._running = 0
        self._condition: asyncio.Condition | None = None

    def _cond(self) -> asyncio.Condition:
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    async def __aenter__(self) -> None:
        condition = self._cond()
        async with condition:
            await condition.wait_for(lambda: self._running < self._size())
            self._running += 1

    async def __aexit__(self, *exc_info: object) -> None:
        condition = self._cond()
        async with condition:
            self._running -= 1
            condition.notify_all()


class Dispatcher:
    """Starts runs of one plan in this process (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        journal: Journal,
        *,
        clock: Clock,
        on_skip: Callable[[str, str], None] = lambda job, message: None,
        on_done: Callable[[Outcome], None] = lambda outcome: None,
    ) -> None:
        self.session = session
        self.journal = journal
        self.clock = clock
        self.on_skip = on_skip
        self.on_done = on_done
        self.accepting = True
        self.network = NetworkGate(clock)
        self._claims: dict[str, JobLock] = {}
        self._tasks: dict[str, asyncio.Task[Outcome]] = {}
        self._limit = _Limit(lambda: self.loaded.plan.settings.max_parallel)

    @property
    def loaded(self) -> LoadedPlan:
        return self.session.loaded

    @property
    def active(self) -> list[str]:
        """Jobs claimed by this process (queued or running)."""
        return sorted(self._claims)

    def busy(self, job_id: str) -> str | None:
        """Why `job_id` cannot start now (claimed here, or its lock is held elsewhere), or None."""
        from backupplan.journal import lock_holder

        if job_id in self._claims:
            return CLAIMED_HERE
        holder = lock_holder(self.loaded.state_dir, job_id)
        if holder is None:
            return None
        if holder.pid == 0:
            return "another process holds its lock"
        return f"pid {holder.pid} holds its lock since {holder.since:%Y-%m-%d %H:%M:%S} UTC"

    def start(self, launch: Launch) -> asyncio.Task[Outcome] | None:
        """Claim the job and start the launch in the background; return its task, or None when the
        job is busy (its slot is then journaled as an overlap)."""
        from backupplan.journal import JobLock

        if not self.accepting:
            return None
        if launch.job in self._claims:
            self.skip(launch, "overlap", "skipped: the job was still running (in this process)")
            return None
        lock = JobLock(self.loaded.state_dir, launch.job)
        try:
            lock.acquire()
        except JobBusyError as busy:
            self.skip(launch, "overlap", f"skipped: the job was still running ({busy})")
            return None
        except BackupplanError as error:  # the state dir cannot be written: nothing can be recorded
            self.on_skip(launch.job, f"not started: {error}")
            self.on_done(Outcome(launch, skipped="error", message=str(error)))
            return None
        self._claims[launch.job] = lock
        task = asyncio.get_running_loop().create_task(self._run(launch, lock))
        self._tasks[launch.job] = task
        return task

    def skip(self, launch: Launch, reason: str, message: str) -> None:
        """Journal `run.skipped` for the launch's slot."""
        data: dict[str, Any] = {"reason": reason, "message": message, "trigger": launch.trigger}
        if launch.slot is not None:
            data["slot"] = format_timestamp(launch.slot)
        self.journal.append("run.skipped", job=launch.job, data=data)
        self.on_skip(launch.job, message)

    async def _run(self, launch: Launch, lock: JobLock) -> Outcome:
        try:
            try:
                outcome = await self._claimed(launch, lock)
            except BackupplanError as error:  # e.g. the journal cannot be written: say so, go on
                outcome = Outcome(launch, skipped="error", message=str(error))
        finally:
            lock.release()
            self._claims.pop(launch.job, None)
            self._tasks.pop(launch.job, None)
        self.on_done(outcome)
        return outcome

    async def _claimed(self, launch: Launch, lock: JobLock) -> Outcome:
        job = self.loaded.jobs.get(launch.job)
        if job is None:  # removed from the plan while it waited
            return Outcome(launch, skipped="removed", message="the job is no longer in the plan")
        self.journal.refresh()
        state = self.journal.state.jobs.get(launch.job)
        if state is not None and state.paused:
            message = "skipped: the job is paused"
            self.skip(launch, "paused", message)
            return Outcome(launch, skipped="paused", message=message)
        check = self.loaded.plan.settings.network_check
        if check is not None and needs_network(job, self.loaded.base_dir):
            problem = await self.network.wait(check)
            if problem is not None:
                message = f"skipped: the network did not answer: {problem}"
                self.skip(launch, "network", message)
                self._remember_failure(launch.job)
                return Outcome(launch, skipped="network", message=message)
        async with self._limit:
            if not self.accepting:
                return Outcome(launch, skipped="shutdown", message="backupplan was stopping")
            result = await self.session.run(launch.job, trigger=launch.trigger, slot=launch.slot, lock=lock)
        if result.status in ("failed", "timed_out"):
            self._remember_failure(launch.job)
        elif result.ok:
            self._forget_failures(launch.job)
        return Outcome(launch, result=result)

    def _remember_failure(self, job_id: str) -> None:
        """Note when the job may be retried: after its retry policy's wait, doubling per failure."""
        job = self.loaded.jobs.get(job_id)
        state = self.journal.state.jobs.get(job_id)
        if job is None or job.retries is None:
            return
        previous = (state.notes.get(RETRY_NOTE) if state is not None else None) or {}
        failures = 1
        with contextlib.suppress(KeyError, TypeError, ValueError):
            since = parse_timestamp(previous["at"])
            success = state.last_success if state is not None else None
            if success is None or parse_timestamp(success) < since:
                failures = int(previous["failures"]) + 1
        now = self.clock.now()
        retry_at = now + timedelta(seconds=retry_delay(job.retries, failures))
        note = {"failures": failures, "at": format_timestamp(now), "next": format_timestamp(retry_at)}
        self.journal.append("job.note", job=job_id, data={RETRY_NOTE: note})

    def _forget_failures(self, job_id: str) -> None:
        state = self.journal.state.jobs.get(job_id)
        if state is not None and state.notes.get(RETRY_NOTE) is not None:
            self.journal.append("job.note", job=job_id, data={RETRY_NOTE: None})

    def retry_time(self, job_id: str) -> datetime | None:
        """The retry time this process noted for the job, if any."""
        state = self.journal.state.jobs.get(job_id)
        note = state.notes.get(RETRY_NOTE) if state is not None else None
        if not isinstance(note, dict) or not note.get("next"):
            return None
        with contextlib.suppress(ValueError, TypeError):
            return parse_timestamp(note["next"])
        return None

    # -- stopping ------------------------------------------------------------------------------

    def stop_all(self, reason: str) -> None:
        """Start nothing more; stop every running run (they end interrupted with `reason`) and
        drop the launches still waiting (their slots are caught up at the next start)."""
        self.accepting = False
        self.session.stop_all(reason)
        for job_id, task in list(self._tasks.items()):
            if job_id not in self.session.running:
                task.cancel()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until every launch ended (at most `timeout` seconds); True when none is left."""
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return not self._tasks
