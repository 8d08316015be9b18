"""A runner session: running jobs of one plan in this process, each run done the same way.

`run`, `apply` and the daemon all run jobs through a Session. One run of one job:

1. take the job's lock (another process running it makes this refuse), close a stale run of the
   job and stop an engine child that survived a crash;
2. run it phase by phase (runner.jobrun: `run.started`, `before` hooks, transfer with retries
   into a new snapshot's `.partial` folder for snapshot jobs, promotion, verification and pruning,
   `on_success`/`on_failure` and `after` hooks, `run.finished` or `run.interrupted`);
3. send notifications, prune old logs, update the site (`ended`); release the lock.

While runs go, the session reacts to `backupplan pause JOB` from other processes, and writes each
run's progress for status.json at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backupplan.engines import Progress
from backupplan.errors import BackupplanError
from backupplan.fsutil import atomic_write, ensure_private_dir
from backupplan.runner.jobrun import JobRun
from backupplan.runner.logfile import RunLog, prune_logs, read_tail, stamp
from backupplan.runner.results import RunEvent, RunResult, Trigger
from backupplan.secrets import mask

if TYPE_CHECKING:
    from backupplan.journal import JobLock, Journal
    from backupplan.notify.hub import Notifications
    from backupplan.plan.load import LoadedPlan
    from backupplan.status.sitefeed import SiteFeed

PROGRESS_INTERVAL = 1.0  # seconds between progress file writes
CONTROL_POLL = 0.5  # seconds between looks for `pause` requests from other processes


@dataclass
class Running:
    """A run in progress: its cancel event, why it stops, and the slot it is for."""

    job: str
    run: str
    cancel: asyncio.Event
    reason: str = "signal"
    slot: datetime | None = None


@dataclass
class Session:
    """Runs jobs of `loaded` with `journal` (shared by every run of this process)."""

    loaded: LoadedPlan
    journal: Journal
    on_event: Callable[[RunEvent], None] = lambda event: None
    site_feed: SiteFeed | None = None
    notifications: Notifications | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # names new snapshots
    _running: dict[str, Running] = field(default_factory=dict)
    _watcher: asyncio.Task[None] | None = None

    # -- several runs ----------------------------------------------------------------------------

    async def run_many(
        self,
        job_ids: Iterable[str],
        *,
        trigger: Trigger = "manual",
        max_parallel: int | None = None,
        accept_changes: bool = False,
    ) -> list[RunResult]:
        """Run the jobs, at most `max_parallel` at once (default settings.max_parallel); return one
        result per job, in the order given. A job another process is running is not run: its
        result says `refused`, with the lock holder in the reason. A run the state dir cannot
        record (full, read-only) fails with the reason; the other jobs still run."""
        from backupplan.errors import JobBusyError

        limit = asyncio.Semaphore(max_parallel or self.loaded.plan.settings.max_parallel)

        async def one(job_id: str) -> RunResult:
            async with limit:
                try:
                    return await self.run(job_id, trigger=trigger, accept_changes=accept_changes)
                except JobBusyError as busy:
                    self.on_event(RunEvent("note", job_id, "", message=str(busy)))
                    return RunResult(job_id, "", "refused", str(busy), 0.0)
                except BackupplanError as error:
                    self.on_event(RunEvent("note", job_id, "", message=mask(str(error))))
                    return RunResult(job_id, "", "failed", mask(str(error)), 0.0)

        return list(await asyncio.gather(*(one(job_id) for job_id in job_ids)))

    def stop_all(self, reason: str = "signal") -> None:
        """Stop every run of this session (Ctrl-C, SIGTERM, daemon shutdown); they end interrupted."""
        for running in self._running.values():
            running.reason = reason
            running.cancel.set()

    @property
    def running(self) -> list[str]:
        return sorted(self._running)

    # -- one run ---------------------------------------------------------------------------------

    async def run(
        self,
        job_id: str,
        *,
        trigger: Trigger = "manual",
        slot: datetime | None = None,
        lock: JobLock | None = None,
        accept_changes: bool = False,
    ) -> RunResult:
        """Run one job now; raise JobBusyError when another process runs it.

        `slot` is the scheduled time the run is for (journaled with `run.started`); `lock` is the
        job's lock when the caller took it already (the scheduler claims a job before it waits for
        a free place); the run releases it either way. `accept_changes` lets this run through the
        job's guard (`backupplan run JOB --accept-changes`).
        """
        from backupplan.journal import JobLock, new_run_id

        job = self.loaded.jobs[job_id]
        state_dir = self.loaded.state_dir
        held = lock if lock is not None else JobLock(state_dir, job_id).acquire()
        try:
            self._recover(job_id)
            run_id = new_run_id()
            cancel = asyncio.Event()
            running = Running(job_id, run_id, cancel, slot=slot)
            self._running[job_id] = running
            self._ensure_watcher()
            try:
                return await JobRun(self, job_id, job, run_id, trigger, running, accept_changes).execute()
            finally:
                self._running.pop(job_id, None)
                with contextlib.suppress(OSError):
                    (state_dir / "progress" / f"{job_id}.json").unlink()
        finally:
            held.release()

    def _recover(self, job_id: str) -> None:
        """Close a stale run of this job (its owner died) and stop an engine child that survived."""
        from backupplan.process.procfs import ChildIdentity, stop_survivor

        for record in self.journal.recover_interrupted(holding={job_id}):
            if record.job != job_id:
                continue
            data = record.data or {}
            if data.get("pid") and data.get("start_time") is not None:
                with contextlib.suppress(Exception):
                    identity = ChildIdentity.from_record(data)
                    if stop_survivor(identity, grace=self.loaded.plan.settings.stop_grace):
                        self.journal.append(
                            "run.note",
                            job=job_id,
                            run=record.run,
                            data={"message": f"stopped a surviving engine process {identity.pid}"},
                        )

    def ended(self, result: RunResult) -> RunResult:
        """After a run's end is journaled: notify, prune old logs, update the site, tell the caller."""
        job_id = result.job
        job_state = self.journal.state.jobs.get(job_id)
        if self.notifications is not None and job_state is not None:
            self._notify(job_id, result, job_state.notes.get("notify") or {})
        prune_logs(self.loaded.state_dir / "logs" / job_id, self.loaded.plan.settings.log_retention.runs)
        self._publish([job_id])
        self.on_event(RunEvent("finished", job_id, result.run, result=result))
        return result

    def _notify(self, job_id: str, result: RunResult, notes: dict[str, Any]) -> None:
        from backupplan.notify.decide import NotifyState

        assert self.notifications is not None
        state = NotifyState.from_note(notes)
        summary = {
            "job": job_id,
            "run": result.run,
            "status": result.status,
            "reason": result.reason,
            "finished_at": stamp(),
            "duration": result.duration,
            "exit_code": result.exit_code,
            "bytes": result.bytes,
            "files": result.files,
            "attempts": result.attempts,
            "log": str(result.log),
        }
        if result.status == "interrupted":
            report = self.notifications.interrupted(
                state, job_id, run_id=result.run, at=datetime.now(UTC), detail=result.reason
            )
        else:
            tail = read_tail(result.log) if result.log else ""
            report = self.notifications.run_finished(state, summary, log_tail=tail)
        report.journal(self.journal.append, job_id, result.run, state)

    # -- progress, notes, pause requests -------------------------------------------------------------

    def progress_handler(self, job_id: str, run_id: str) -> Callable[[Progress, int], None]:
        folder = ensure_private_dir(self.loaded.state_dir / "progress")
        last = [0.0]

        def handle(progress: Progress, attempt: int) -> None:
            self.on_event(RunEvent("progress", job_id, run_id, progress=progress))
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL:
                return
            last[0] = now
            import orjson

            document = {
                "run": run_id,
                "attempt": attempt,
                **progress.as_status(),
                "updated_at": stamp(),
            }
            with contextlib.suppress(OSError):
                atomic_write(folder / f"{job_id}.json", orjson.dumps(document), durable=False)
            if self.site_feed is not None:
                self.site_feed.progress()

        return handle

    def close_log(self, job_id: str, run_id: str, log: RunLog) -> None:
        """Close the run's log and say so when it could not be written (the run itself went on)."""
        log.close()
        if log.error is not None:
            self.note(job_id, run_id, f"the run's log is incomplete: {log.error}")

    def note(self, job_id: str, run_id: str, text: str) -> None:
        self.on_event(RunEvent("note", job_id, run_id, message=mask(text)))

    def _publish(self, job_ids: list[str]) -> None:
        if self.site_feed is not None:
            self.site_feed.event(job_ids)

    def _ensure_watcher(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch_controls())

    async def _watch_controls(self) -> None:
        """While runs are going, react within a second to `backupplan pause JOB` from elsewhere."""
        while self._running:
            await asyncio.sleep(CONTROL_POLL)
            if not self.journal.changed():
                continue
            try:
                self.journal.refresh()
            except BackupplanError:
                continue
            for job_id, running in list(self._running.items()):
                job_state = self.journal.state.jobs.get(job_id)
                if job_state is not None and job_state.pause_requested and not running.cancel.is_set():
                    running.reason = "pause"
                    running.cancel.set()
