"""One run of one job, phase by phase, once its lock is held (see backupplan.runner.session):

1. `_start`: journal `run.started`, open the log, tell the site and the notifications;
2. `_before`: the `before` hooks (one failing skips the transfer);
3. `_copy`: check the source (runner.guard), write the job's database dumps into it (dumps), stage
   a new snapshot's `.partial` folder for snapshot jobs or look first with a dry run for a guarded
   mirror, then transfer with retries and the job's wall-clock limit, counting what changes; a run
   over the guard's limits is *held* (a snapshot's new folder is discarded); `_aftercare` promotes
   the snapshot, verifies and prunes;
4. `_follow_up`: `on_success` or `on_failure`, then `after` hooks, with the run's facts in
   BACKUPPLAN_*;
5. `_finish` journals `run.finished` (or `_interrupted` journals `run.interrupted` when the run
   was stopped by `pause`, a signal or a shutdown).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupplan.engines import Outcome, TransferSpec, TransferStats
from backupplan.engines.changes import Changes
from backupplan.errors import BackupplanError
from backupplan.journal.records import format_timestamp
from backupplan.runner.aftercare import Aftercare, after_transfer, with_warning
from backupplan.runner.changelist import ChangeList
from backupplan.runner.guard import (
    SHOWN,
    held_lines,
    local_destination_has_files,
    over_limits,
    preflight,
    source_problem,
)
from backupplan.runner.hooks import HookFailure, hook_environment, run_hooks
from backupplan.runner.logfile import RunLog, changes_path, log_path, stamp
from backupplan.runner.results import RunEvent, RunResult, Trigger, status_of
from backupplan.runner.transfer import (
    TransferHooks,
    TransferResult,
    backoff,
    run_transfer,
    transfer_spec,
    wait_to_retry,
)

if TYPE_CHECKING:
    from backupplan.dumps import Dumped
    from backupplan.plan.model import Job
    from backupplan.runner.session import Running, Session
    from backupplan.snapshots import Staging

INTERRUPTED = {
    "pause": "paused from another terminal",
    "signal": "stopped by a signal (Ctrl-C or SIGTERM)",
    "shutdown": "stopped because the daemon shut down",
}


@dataclass
class JobRun:
    """The run `run_id` of `job_id` in `session`; `running` carries its cancel event."""

    session: Session
    job_id: str
    job: Job
    run_id: str
    trigger: Trigger
    running: Running
    path: Path = field(init=False)
    log: RunLog = field(init=False)
    spec: TransferSpec = field(init=False)
    started: float = field(init=False)
    deadline: float = field(init=False)
    started_at: datetime = field(init=False)
    facts: dict[str, Any] = field(init=False)
    accept_changes: bool = False  # `run --accept-changes`: this run goes through the guard
    transfer: TransferResult | None = None
    staging: Staging | None = None
    changes: Changes = field(init=False)
    changelist: ChangeList = field(init=False)
    held: str | None = None  # why the guard held the run
    unkept: str | None = None  # what a new destination cannot keep of what the job preserves
    dumped: Dumped | None = None  # the dumps phase's result (jobs with `dumps:`)

    async def execute(self) -> RunResult:
        """Run every phase; return how the run ended."""
        self._start()
        try:
            failures = await self._before()
            outcome = await self._copy(failures)
        finally:
            self.changelist.close()
        stats = self.transfer.stats if self.transfer is not None else TransferStats()
        attempts = self.transfer.attempts if self.transfer is not None else 0
        if self.transfer is not None and outcome.succeeded and self.held is None:
            outcome = await self._aftercare(outcome, stats)
            if self.unkept is not None and outcome.succeeded:
                outcome = with_warning(outcome, self.unkept)
        status, reason = status_of(outcome)
        if outcome.stopped == "cancel":
            return self._interrupted(stats, attempts)
        if self.held is not None:
            status, reason = "held", self.held
        status, reason = await self._follow_up(status, reason, outcome, stats)
        return self._finish(status, reason, outcome, stats, attempts)

    def _start(self) -> None:
        session, job_id, job, run_id = self.session, self.job_id, self.job, self.run_id
        state_dir = session.loaded.state_dir
        self.path = log_path(state_dir, job_id, run_id)
        self.log = RunLog(self.path)
        self.changelist = ChangeList(changes_path(self.path))
        self.changes = Changes(sink=self.changelist.add)
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        folder = None
        if job.versions is not None:  # --backup-dir's
            from backupplan.snapshots.versions import folder_of

            folder = folder_of(run_id)
        self.spec = spec = transfer_spec(job, session.loaded.base_dir, versions_folder=folder)
        self.deadline = self.started + (job.timeout or session.loaded.plan.settings.timeout)
        session.journal.append("run.started", job=job_id, run=run_id, data={
            "trigger": self.trigger, "engine": job.engine, "attempt": 1,
            "log": str(self.path.relative_to(state_dir)), "source": spec.source,
            "destination": spec.destination,
            **({"slot": format_timestamp(self.running.slot)} if self.running.slot else {}),
        })  # fmt: skip
        self.log.line(
            "backupplan",
            f"run {run_id} of {job_id} ({self.trigger}): {job.engine} {spec.source} -> {spec.destination}",
        )
        session.on_event(RunEvent("started", job_id, run_id))
        if session.site_feed is not None:
            session.site_feed.progress()  # status.json shows the run at once; pages follow at its end
        if session.notifications is not None:
            session.notifications.run_started(job_id, run_id)
        self.facts = {
            "job": job_id,
            "run": run_id,
            "log": str(self.path),
            "engine": job.engine,
            "source": spec.source,
            "destination": spec.destination,
            "trigger": self.trigger,
        }

    async def _before(self) -> list[HookFailure]:
        return await run_hooks(
            "before",
            self.job.hooks.before,
            log=self.log,
            env=hook_environment(self.job.env, self.facts),
            stop_at_first_failure=True,
            cancel=self.running.cancel,
        )

    def _journal(self, kind: str, data: dict[str, Any]) -> object:
        return self.session.journal.append(kind, job=self.job_id, run=self.run_id, data=data)

    def _note(self, text: str) -> None:
        self.session.note(self.job_id, self.run_id, text)

    async def _copy(self, failures: list[HookFailure]) -> Outcome:
        """Check the source, stage the snapshot (snapshot jobs) or look first (a guarded mirror),
        and transfer; return the transfer's outcome (`self.held` says when the guard held it)."""
        if failures:
            return Outcome(
                "fatal",
                f"{failures[0].describe()}: the transfer was skipped",
                "see the hook's output in the run's log",
            )
        if self.running.cancel.is_set():
            return Outcome("fatal", "stopped on request", "", None, None, "cancel")
        files = self._files_at_destination()
        refusal = source_problem(
            self.job_id, self.job, self.spec, destination_has_files=bool(files) or
            bool(local_destination_has_files(self.spec)), accept=self.accept_changes,
        )  # fmt: skip
        if refusal is not None:
            self.log.line("backupplan", refusal)
            return Outcome("fatal", refusal)
        if self.job.dumps:
            from backupplan.dumps import take_dumps

            self.dumped = await take_dumps(
                self.job, self.spec.source, self.session.loaded.base_dir, log=self.log,
                deadline=self.deadline, cancel=self.running.cancel,
                stop_grace=self.session.loaded.plan.settings.stop_grace,
            )  # fmt: skip
            if self.dumped.failure is not None:
                return self.dumped.failure
        if not self._made_a_copy():
            self.unkept = self._what_the_destination_cannot_keep()
        try:
            self.staging = await self._stage_snapshot()
        except BackupplanError as error:
            return Outcome("fatal", str(error), getattr(error, "hint", "") or "no snapshot was made")
        if self.staging is not None:
            self.spec = self.staging.spec
            self.changes.unchanged = self.staging.unlinked
        elif self._guarded(files):
            looked = await self._look_first(files)
            if looked is not None:
                return looked
        settings = self.session.loaded.plan.settings
        self.transfer = await run_transfer(
            self.job, replace(self.spec, itemize=True), log=self.log, deadline=self.deadline,
            stop_grace=settings.stop_grace, cancel=self.running.cancel, changes=self.changes,
            hooks=TransferHooks(
                journal=self._journal,
                progress=self.session.progress_handler(self.job_id, self.run_id),
                note=self._note,
            ),
        )  # fmt: skip
        if self.staging is not None and self.transfer.outcome.succeeded:
            await self._count_snapshot(files)
        return self.transfer.outcome

    def _what_the_destination_cannot_keep(self) -> str | None:
        """Before a job's first run into a local folder: what of `preserve:` it cannot keep
        (runner.fidelity), said as a warning that names the keys to set."""
        from backupplan.engines.base import location_kind
        from backupplan.runner.fidelity import lost_text, nearest_folder, probe

        if self.job.engine != "rsync" or location_kind(self.spec.destination) != "local":
            return None
        folder = nearest_folder(Path(self.spec.destination))
        try:
            lost = probe(folder).lost(self.job.preserve.kept())
        except OSError:
            return None  # the transfer says why it cannot write there
        if not lost:
            return None
        text = lost_text(lost, str(folder))
        self.log.line("backupplan", f"warning: {text}")
        self._note(text)
        return text

    def _files_at_destination(self) -> int:
        """Files at the destination after the last success (what the guard's shares are of)."""
        state = self.session.journal.state.jobs.get(self.job_id)
        return (state.last_total_files or 0) if state is not None else 0

    def _made_a_copy(self) -> bool:
        """Whether a run of this job ever succeeded."""
        state = self.session.journal.state.jobs.get(self.job_id)
        return state is not None and state.last_success is not None

    def _guarded(self, files: int) -> bool:
        """Whether the run looks first: a guard, not waived, over a copy that holds files (a local
        folder found empty, a disk replaced say, is copied at once). rclone's
        dry run counts the destination itself (what its runs report is what they transferred, not
        what there is), so an rclone job looks first once it has made a copy."""
        if self.job.guard is None or self.accept_changes:
            return False
        if self.job.engine == "rclone":
            return self._made_a_copy()
        # an empty (or missing) local folder has nothing to delete or rewrite: nothing to hold
        return files > 0 and local_destination_has_files(self.spec) is not False

    async def _look_first(self, files: int) -> Outcome | None:
        """A guarded mirror: a dry run first. Return its outcome when the run ends there (it
        failed, it was held, or there was nothing to do), None to go on with the transfer."""
        assert self.job.guard is not None
        settings = self.session.loaded.plan.settings
        retries = self.job.retries or settings.retries
        for attempt in range(1, retries.attempts + 1):  # a network error is tried again, as a transfer's
            looked = await preflight(
                self.job, self.spec, log=self.log, deadline=self.deadline, stop_grace=settings.stop_grace,
                cancel=self.running.cancel, changes=Changes(sink=self.changelist.add),
            )  # fmt: skip
            if looked.outcome.kind != "retryable" or attempt == retries.attempts:
                break
            wait = backoff(retries, attempt)
            if time.monotonic() + wait >= self.deadline:
                break
            self.changelist.reset()
            self._note(f"the guard's dry run failed ({looked.outcome.message}); trying again in {wait:.0f}s")
            stopped = await wait_to_retry(self.running.cancel, wait)
            if stopped is not None:
                return stopped
        if not looked.outcome.succeeded:
            return looked.outcome
        if looked.stats.destination_files is not None:  # counted by the dry run itself (rclone)
            files = looked.stats.destination_files
        changes = self._discounted(looked.changes)
        self.held = over_limits(self.job.guard, changes, files) if files else None
        if self.held is None and looked.changes.total:
            self.changelist.reset()  # within the limits: the transfer itemizes the same changes
            return None
        self.changes = looked.changes
        self.transfer = TransferResult(looked.outcome, looked.stats, 0)
        if self.held is None:
            self.log.line("backupplan", "nothing to change: the copy is up to date")
        return looked.outcome

    def _discounted(self, changes: Changes) -> Changes:
        """The changes the guard weighs: less the dumps this run rewrote (dumps.discounted)."""
        if self.dumped is None:  # a job without dumps (the dumps package is not even imported)
            return changes
        from backupplan.dumps import discounted

        return discounted(changes, self.dumped)

    async def _count_snapshot(self, files: int) -> None:
        """After a snapshot's transfer: deletions linked with --link-dest are not itemized (the new
        folder started empty), so they are counted from the totals; then the guard's limits."""
        assert self.staging is not None and self.transfer is not None
        total = self.transfer.stats.total_files
        if self.staging.method == "link-dest" and files and total is not None:
            self.changes.deleted = max(0, files - (total - self.changes.added))
        if self.job.guard is None or self.accept_changes or not files:
            return
        self.held = over_limits(self.job.guard, self._discounted(self.changes), files)
        if self.held is not None:
            from backupplan.snapshots.place import drop

            error = await drop(self.staging, timeout=max(0.1, self.deadline - time.monotonic()))
            self.log.line("backupplan", f"snapshot {self.staging.id} discarded: the last one stays as it was")
            if error:
                self.log.line("backupplan", f"warning: the discarded snapshot stays in the trash: {error}")

    async def _stage_snapshot(self) -> Staging | None:
        """For a snapshot job, set up the new snapshot's `.partial` folder (see snapshots.place)."""
        if self.job.snapshots is None or self.job.engine != "rsync":
            return None
        from backupplan.snapshots.place import stage

        return await stage(
            self.spec, self.session.clock(),
            say=lambda text: self.log.line("backupplan", text),
            timeout=max(0.1, self.deadline - time.monotonic()), cancel=self.running.cancel,
        )  # fmt: skip

    async def _aftercare(self, outcome: Outcome, stats: TransferStats) -> Outcome:
        """Promote the snapshot, verify the copy and prune (runner.aftercare)."""
        loaded = self.session.loaded
        finished = await after_transfer(Aftercare(
            self.job_id, self.job, self.spec, self.staging, loaded.timezone, self.log, self._journal,
            self._note, self.deadline, loaded.plan.settings.stop_grace, self.running.cancel,
            moved=bool(self.changes.changed or self.changes.deleted),
        ), outcome, stats)  # fmt: skip
        if finished.snapshot is not None:
            self.facts["snapshot"] = finished.snapshot.where
        return finished.outcome

    async def _follow_up(
        self, status: str, reason: str | None, outcome: Outcome, stats: TransferStats
    ) -> tuple[str, str | None]:
        """Run `on_success` or `on_failure`, then `after`; a failing one turns success into a warning."""
        self.facts.update(
            status=status,
            exit_code=outcome.exit_code,
            bytes=stats.bytes_transferred,
            files=stats.files_transferred,
            reason=reason or "",
        )
        env = hook_environment(self.job.env, self.facts)
        hooks = self.job.hooks
        good = status in ("succeeded", "warning")
        which, follow_up = ("on_success", hooks.on_success) if good else ("on_failure", hooks.on_failure)
        after = await run_hooks(which, follow_up, log=self.log, env=env, stop_at_first_failure=False)
        after += await run_hooks("after", hooks.after, log=self.log, env=env, stop_at_first_failure=False)
        if after and status == "succeeded":
            return "warning", f"{after[0].describe()}"
        return status, reason

    def _finish(
        self, status: str, reason: str | None, outcome: Outcome, stats: TransferStats, attempts: int
    ) -> RunResult:
        duration = time.monotonic() - self.started
        result = RunResult(
            self.job_id,
            self.run_id,
            status,
            reason,
            duration,
            stats.bytes_transferred,
            stats.files_transferred,
            outcome.exit_code,
            attempts,
            self.path,
        )
        self.log.line(
            "backupplan",
            f"run {status}"
            + (f": {reason}" if reason else "")
            + f" after {duration:.1f}s; {stats.files_transferred} files, {stats.bytes_transferred} bytes",
        )
        self.session.close_log(self.job_id, self.run_id, self.log)
        if self.held is not None:
            for line in held_lines(self.changes):
                self.log.line("backupplan", line)
        if self.changelist.error is not None:
            self._note(self.changelist.error)
        self._journal("run.finished", {
            "status": status, "exit_code": outcome.exit_code, "bytes": stats.bytes_transferred,
            "files": stats.files_transferred, "duration": round(duration, 3), "attempts": attempts,
            "reason": reason, "started_at": stamp(self.started_at), "changes": self.changes.as_record(),
            "total_files": stats.total_files,
            **({"accepted": True} if self.accept_changes else {}),
            **({"sample": self._sample()} if self.held is not None else {}),
            **({"dumps": self.dumped.as_records()} if self.dumped and self.dumped.records else {}),
        })  # fmt: skip
        return self.session.ended(result)

    def _sample(self) -> dict[str, list[str]]:
        """A few paths of each kind a held run would have changed (the changes list has more)."""
        names = {"+": "added", "~": "changed", "-": "deleted"}
        return {names[kind]: paths[:SHOWN] for kind, paths in self.changes.samples.items()}

    def _interrupted(self, stats: TransferStats, attempts: int) -> RunResult:
        reason = self.running.reason
        text = INTERRUPTED.get(reason, reason)
        self.log.line("backupplan", f"run interrupted: {text}; the next run resumes from what was copied")
        self.session.close_log(self.job_id, self.run_id, self.log)
        self._journal("run.interrupted", {"reason": reason, "message": text})
        result = RunResult(
            self.job_id,
            self.run_id,
            "interrupted",
            text,
            time.monotonic() - self.started,
            stats.bytes_transferred,
            stats.files_transferred,
            None,
            attempts,
            self.path,
        )
        return self.session.ended(result)
