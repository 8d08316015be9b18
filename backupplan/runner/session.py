"""A runner session: running jobs of one plan in this process, each run done the same way.

`run`, `apply` and the daemon all run jobs through a Session. One run of one job:

1. take the job's lock (another process running it makes this refuse), close a stale run of the
   job and stop an engine child that survived a crash;
2. journal `run.started`, ping `/start`, run the `before` hooks (one failing skips the transfer);
3. transfer, with retries and the job's wall-clock limit (`run.child` and `run.attempt` journaled),
   into a new snapshot's `.partial` folder for snapshot jobs; after a successful transfer the
   snapshot is promoted, the copy verified and old snapshots pruned (runner.aftercare);
4. run `on_success` or `on_failure`, then `after` hooks, with the run's facts in BACKUPPLAN_*;
5. journal `run.finished` (or `run.interrupted` when stopped by `pause`, a signal or a shutdown),
   send notifications, prune old logs, update the site; release the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from backupplan.engines import Outcome, Progress, TransferSpec, TransferStats
from backupplan.errors import BackupplanError
from backupplan.fsutil import atomic_write, ensure_private_dir
from backupplan.journal.records import format_timestamp
from backupplan.runner.aftercare import Aftercare, after_transfer
from backupplan.runner.hooks import HookFailure, hook_environment, run_hooks
from backupplan.runner.logfile import RunLog, log_path, prune_logs, read_tail, stamp
from backupplan.runner.transfer import TransferHooks, TransferResult, run_transfer, transfer_spec
from backupplan.secrets import mask

if TYPE_CHECKING:
    from backupplan.journal import JobLock, Journal
    from backupplan.notify.hub import Notifications
    from backupplan.plan.load import LoadedPlan
    from backupplan.plan.model import Job
    from backupplan.snapshots import Staging
    from backupplan.status.sitefeed import SiteFeed

Trigger = Literal["manual", "schedule", "catch_up", "resume", "apply"]
PROGRESS_INTERVAL = 1.0  # seconds between progress file writes
CONTROL_POLL = 0.5  # seconds between looks for `pause` requests from other processes


@dataclass(frozen=True)
class RunResult:
    """How one run ended, for summaries and exit codes."""

    job: str
    run: str
    status: str  # succeeded, warning, failed, timed_out, interrupted
    reason: str | None
    duration: float
    bytes: int = 0
    files: int = 0
    exit_code: int | None = None
    attempts: int = 0
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "warning")


@dataclass(frozen=True)
class RunEvent:
    """What a run tells whoever shows it: started, progress, note (a retry, a hook), finished."""

    kind: Literal["started", "progress", "note", "finished"]
    job: str
    run: str
    progress: Progress | None = None
    message: str = ""
    result: RunResult | None = None


@dataclass
class _Running:
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
    _running: dict[str, _Running] = field(default_factory=dict)
    _watcher: asyncio.Task[None] | None = None

    # -- several runs ----------------------------------------------------------------------------

    async def run_many(
        self, job_ids: Iterable[str], *, trigger: Trigger = "manual", max_parallel: int | None = None
    ) -> list[RunResult]:
        """Run the jobs, at most `max_parallel` at once (default settings.max_parallel); return one
        result per job, in the order given. A job another process is running is not run: its
        result says `refused`, with the lock holder in the reason."""
        from backupplan.errors import JobBusyError

        limit = asyncio.Semaphore(max_parallel or self.loaded.plan.settings.max_parallel)

        async def one(job_id: str) -> RunResult:
            async with limit:
                try:
                    return await self.run(job_id, trigger=trigger)
                except JobBusyError as busy:
                    self.on_event(RunEvent("note", job_id, "", message=str(busy)))
                    return RunResult(job_id, "", "refused", str(busy), 0.0)

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
    ) -> RunResult:
        """Run one job now; raise JobBusyError when another process runs it.

        `slot` is the scheduled time the run is for (journaled with `run.started`); `lock` is the
        job's lock when the caller took it already (the scheduler claims a job before it waits for
        a free place); the run releases it either way.
        """
        from backupplan.journal import JobLock, new_run_id

        job = self.loaded.jobs[job_id]
        state_dir = self.loaded.state_dir
        held = lock if lock is not None else JobLock(state_dir, job_id).acquire()
        try:
            self._recover(job_id)
            run_id = new_run_id()
            cancel = asyncio.Event()
            running = _Running(job_id, run_id, cancel, slot=slot)
            self._running[job_id] = running
            self._ensure_watcher()
            try:
                return await self._run_locked(job_id, job, run_id, trigger, running)
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

    async def _run_locked(
        self,
        job_id: str,
        job: Job,
        run_id: str,
        trigger: Trigger,
        running: _Running,
    ) -> RunResult:
        state_dir = self.loaded.state_dir
        path = log_path(state_dir, job_id, run_id)
        log = RunLog(path)
        started = time.monotonic()
        started_at = datetime.now(UTC)
        spec = transfer_spec(job, self.loaded.base_dir)
        deadline = started + (job.timeout or self.loaded.plan.settings.timeout)
        self.journal.append("run.started", job=job_id, run=run_id, data={
            "trigger": trigger, "engine": job.engine, "attempt": 1,
            "log": str(path.relative_to(state_dir)), "source": spec.source, "destination": spec.destination,
            **({"slot": format_timestamp(running.slot)} if running.slot else {}),
        })  # fmt: skip
        log.line(
            "backupplan",
            f"run {run_id} of {job_id} ({trigger}): {job.engine} {spec.source} -> {spec.destination}",
        )
        self.on_event(RunEvent("started", job_id, run_id))
        if self.site_feed is not None:
            self.site_feed.progress()  # status.json shows the run at once; pages follow at its end
        if self.notifications is not None:
            self.notifications.run_started(job_id, run_id)

        facts: dict[str, Any] = {
            "job": job_id,
            "run": run_id,
            "log": str(path),
            "engine": job.engine,
            "source": spec.source,
            "destination": spec.destination,
            "trigger": trigger,
        }
        hook_env = hook_environment(job.env, facts)
        failures = await run_hooks(
            "before",
            job.hooks.before,
            log=log,
            env=hook_env,
            stop_at_first_failure=True,
            cancel=running.cancel,
        )
        transfer: TransferResult | None = None
        staging: Staging | None = None

        def journal(kind: str, data: dict[str, Any]) -> object:
            return self.journal.append(kind, job=job_id, run=run_id, data=data)

        if failures:
            outcome = Outcome(
                "fatal",
                f"{failures[0].describe()}: the transfer was skipped",
                "see the hook's output in the run's log",
            )
        elif running.cancel.is_set():
            outcome = Outcome("fatal", "stopped on request", "", None, None, "cancel")
        else:
            try:
                staging = await self._stage_snapshot(job, spec, log, deadline, running.cancel)
            except BackupplanError as error:
                outcome = Outcome("fatal", str(error), "no snapshot was made")
            else:
                spec = staging.spec if staging is not None else spec
                transfer = await run_transfer(
                    job, spec, log=log, deadline=deadline, stop_grace=self.loaded.plan.settings.stop_grace,
                    cancel=running.cancel, hooks=TransferHooks(
                        journal=journal,
                        progress=self._progress_handler(job_id, run_id),
                        note=lambda text: self._note(job_id, run_id, text),
                    ),
                )  # fmt: skip
                outcome = transfer.outcome
        stats = transfer.stats if transfer is not None else TransferStats()
        attempts = transfer.attempts if transfer is not None else 0
        if transfer is not None and outcome.succeeded:
            finished = await after_transfer(Aftercare(
                job_id, job, spec, staging, self.loaded.timezone, log, journal,
                lambda text: self._note(job_id, run_id, text), deadline,
                self.loaded.plan.settings.stop_grace, running.cancel,
            ), outcome, stats)  # fmt: skip
            outcome = finished.outcome
            if finished.snapshot is not None:
                facts["snapshot"] = str(finished.snapshot.path)
        status, reason = _status_of(outcome)

        if outcome.stopped == "cancel":
            return self._interrupted(job_id, run_id, running, log, started, stats, attempts, path)

        facts.update(
            status=status,
            exit_code=outcome.exit_code,
            bytes=stats.bytes_transferred,
            files=stats.files_transferred,
            reason=reason or "",
        )
        hook_env = hook_environment(job.env, facts)
        after: list[HookFailure] = []
        follow_up = job.hooks.on_success if status in ("succeeded", "warning") else job.hooks.on_failure
        which = "on_success" if status in ("succeeded", "warning") else "on_failure"
        after += await run_hooks(which, follow_up, log=log, env=hook_env, stop_at_first_failure=False)
        after += await run_hooks("after", job.hooks.after, log=log, env=hook_env, stop_at_first_failure=False)
        if after and status == "succeeded":
            status, reason = "warning", f"{after[0].describe()}"

        duration = time.monotonic() - started
        result = RunResult(
            job_id,
            run_id,
            status,
            reason,
            duration,
            stats.bytes_transferred,
            stats.files_transferred,
            outcome.exit_code,
            attempts,
            path,
        )
        log.line(
            "backupplan",
            f"run {status}"
            + (f": {reason}" if reason else "")
            + f" after {duration:.1f}s; {stats.files_transferred} files, {stats.bytes_transferred} bytes",
        )
        self._close_log(job_id, run_id, log)
        self.journal.append("run.finished", job=job_id, run=run_id, data={
            "status": status, "exit_code": outcome.exit_code, "bytes": stats.bytes_transferred,
            "files": stats.files_transferred, "duration": round(duration, 3), "attempts": attempts,
            "reason": reason, "started_at": stamp(started_at),
        })  # fmt: skip
        self._after_run(job_id, result)
        self.on_event(RunEvent("finished", job_id, run_id, result=result))
        return result

    async def _stage_snapshot(
        self, job: Job, spec: TransferSpec, log: RunLog, deadline: float, cancel: asyncio.Event
    ) -> Staging | None:
        """For a snapshot job, set up the new snapshot's `.partial` folder (see snapshots.stage)."""
        if job.snapshots is None or job.engine != "rsync":
            return None
        from backupplan.snapshots import prepare

        return await prepare(
            spec, Path(spec.destination), self.clock(), say=lambda text: log.line("backupplan", text),
            timeout=max(0.1, deadline - time.monotonic()), cancel=cancel,
        )  # fmt: skip

    def _interrupted(
        self,
        job_id: str,
        run_id: str,
        running: _Running,
        log: RunLog,
        started: float,
        stats: TransferStats,
        attempts: int,
        path: Path,
    ) -> RunResult:
        reason = running.reason
        text = {
            "pause": "paused from another terminal",
            "signal": "stopped by a signal (Ctrl-C or SIGTERM)",
            "shutdown": "stopped because the daemon shut down",
        }.get(reason, reason)
        log.line("backupplan", f"run interrupted: {text}; the next run resumes from what was copied")
        self._close_log(job_id, run_id, log)
        self.journal.append(
            "run.interrupted", job=job_id, run=run_id, data={"reason": reason, "message": text}
        )
        result = RunResult(
            job_id,
            run_id,
            "interrupted",
            text,
            time.monotonic() - started,
            stats.bytes_transferred,
            stats.files_transferred,
            None,
            attempts,
            path,
        )
        self._after_run(job_id, result)
        self.on_event(RunEvent("finished", job_id, run_id, result=result))
        return result

    def _after_run(self, job_id: str, result: RunResult) -> None:
        job_state = self.journal.state.jobs.get(job_id)
        if self.notifications is not None and job_state is not None:
            self._notify(job_id, result, job_state.notes.get("notify") or {})
        prune_logs(self.loaded.state_dir / "logs" / job_id, self.loaded.plan.settings.log_retention.runs)
        self._publish([job_id])

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

    def _progress_handler(self, job_id: str, run_id: str) -> Callable[[Progress, int], None]:
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

    def _close_log(self, job_id: str, run_id: str, log: RunLog) -> None:
        """Close the run's log and say so when it could not be written (the run itself went on)."""
        log.close()
        if log.error is not None:
            self._note(job_id, run_id, f"the run's log is incomplete: {log.error}")

    def _note(self, job_id: str, run_id: str, text: str) -> None:
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


def _status_of(outcome: Outcome) -> tuple[str, str | None]:
    """The run's status and reason for an engine outcome."""
    if outcome.kind == "ok":
        return "succeeded", None
    if outcome.kind == "warning":
        return "warning", mask(outcome.message)
    if outcome.stopped == "timeout":
        return "timed_out", mask(outcome.message)
    message = mask(outcome.message)
    return "failed", message + (f" ({outcome.hint})" if outcome.hint else "")
