"""`backupplan daemon`: apply, then run every job on its schedule until stopped.

One daemon per state dir (`locks/_daemon.lock`). At start it applies the plan like `apply` (record
it, handle runs a crash interrupted, catch up missed slots from the journal, start what is due),
then the live schedule (backupplan.scheduler.live) fires each job at its slots. Once a `tick` it
looks at the clock (a wall-clock jump, e.g. a suspend, triggers a catch-up from the journal), the
plan file (reloaded when it changes; SIGHUP reloads at once; an invalid edit is reported and
journaled as `plan.rejected`, and the running plan stays), the journal (a job resumed from another
terminal is looked at again) and, every minute, overdue jobs. SIGTERM or SIGINT stops it: nothing
new starts, running runs are stopped and journaled as interrupted (resumed at the next start), and
it exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from backupplan.errors import BackupplanError, PlanError
from backupplan.journal.records import format_timestamp
from backupplan.scheduler.applied import read_applied
from backupplan.scheduler.clock import Clock, JumpDetector, SystemClock
from backupplan.scheduler.dispatch import Dispatcher, Outcome
from backupplan.scheduler.live import LiveSchedule
from backupplan.scheduler.locks import apply_lock, lock_daemon
from backupplan.scheduler.overdue import OverdueWatch
from backupplan.scheduler.reconcile import Launch, Reconciliation, commit, reconcile
from backupplan.scheduler.report import diff_lines, due_lines
from backupplan.scheduler.watch import heartbeat, watch_overdue
from backupplan.status.document import Keeper

if TYPE_CHECKING:
    from pathlib import Path

    from backupplan.journal import Journal
    from backupplan.plan.load import LoadedPlan
    from backupplan.runner.session import Session

TICK = 1.0  # seconds between looks at the clock, the plan file and the journal
OVERDUE_EVERY = 60.0
HEARTBEAT_EVERY = 60.0  # status.json is rewritten at least this often, so that its age shows life
STATE_RETRY = 30.0  # after the state dir refused a write (full, read-only): look again this much later
STOP_EXTRA = 5.0  # on top of settings.stop_grace, for stopped runs to journal their interruption
NOTIFY_AT_STOP = 3.0  # seconds queued notifications get when the daemon stops

SessionFactory = Callable[["LoadedPlan", "Journal"], "Session"]


class Daemon:
    """The scheduler loop of one plan; `await Daemon(...).run()` returns the exit code."""

    loaded: LoadedPlan
    journal: Journal
    session: Session
    dispatcher: Dispatcher
    live: LiveSchedule

    def __init__(
        self,
        plan_path: str,
        *,
        make_session: SessionFactory,
        clock: Clock | None = None,
        on_message: Callable[[str], None] = lambda text: None,
        on_problem: Callable[[str], None] = lambda text: None,
        tick: float = TICK,
        overdue_every: float = OVERDUE_EVERY,
        heartbeat_every: float = HEARTBEAT_EVERY,
        handle_signals: bool = True,
    ) -> None:
        self.plan_path = plan_path
        self.make_session = make_session
        self.clock = clock or SystemClock()
        self.message = on_message
        self.problem = on_problem
        self.tick = tick
        self.overdue_every = overdue_every
        self.heartbeat_every = heartbeat_every
        self.handle_signals = handle_signals
        self.detector = JumpDetector(self.clock)
        self.overdue = OverdueWatch()
        self._to_catch_up: set[str] = set()
        self._stop_reason: str | None = None
        self._reload_reason: str | None = None
        self._wake: asyncio.Event | None = None
        self._plan_signature: tuple[int, int, int] | None = None
        self._changed_signature: tuple[int, int, int] | None = None
        self._paused: set[str] = set()
        self._paused_at_seq = -1  # the journal position `_paused` was read at
        self._next_overdue = 0.0
        self._next_heartbeat = 0.0
        self._next_ping = 0.0
        self._trouble: str | None = None  # the last problem reported (each is said once)
        self._retry_at: float | None = None  # when to catch up again after the state dir refused

    # -- control (signal handlers, the live schedule, tests) -------------------------------------

    def request_stop(self, reason: str = "signal") -> None:
        self._stop_reason = self._stop_reason or reason
        self._poke()

    def request_reload(self, reason: str = "SIGHUP") -> None:
        self._reload_reason = reason
        self._poke()

    def catch_up_soon(self, jobs: set[str]) -> None:
        """Look at these jobs again from the journal at the next tick (a missed fire, a retry)."""
        self._to_catch_up |= jobs
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the life of the daemon ------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped; raise PlanError for an invalid plan at start, BackupplanError when
        another daemon runs or the state dir cannot be used."""
        from backupplan.journal import Journal
        from backupplan.plan.load import load_plan

        loaded = load_plan(self.plan_path)
        lock = lock_daemon(loaded.state_dir)
        try:
            journal = Journal.open(
                loaded.state_dir, keep_runs=loaded.plan.settings.log_retention.runs, clock=self.clock.now
            )
            try:
                return await self._serve(loaded, journal)
            finally:
                journal.close()
        finally:
            lock.release()

    async def _serve(self, loaded: LoadedPlan, journal: Journal) -> int:
        self.loaded, self.journal = loaded, journal
        self._wake = asyncio.Event()
        self.session = self.make_session(loaded, journal)
        if self.session.site_feed is not None:
            self.session.site_feed.keeper = self._keeper()
        self.dispatcher = Dispatcher(
            self.session, journal, clock=self.clock, on_skip=self._skipped, on_done=self._done
        )
        self.live = LiveSchedule(self)
        self._install_signals()
        try:
            journal.append(
                "daemon.started", data={"pid": os.getpid(), "plan": str(loaded.path), "digest": loaded.digest}
            )
            self.message(f"backupplan daemon started (pid {os.getpid()}) for {loaded.display_path}")
            self._plan_signature = self._changed_signature = _signature(loaded.path)
            self._paused = self._paused_jobs()
            self._apply(loaded, first=True)
            self.live.start()
            self._check_overdue()
            await self._loop()
        finally:
            await self._shutdown()
            self._remove_signals()
        return 0

    async def _loop(self) -> None:
        assert self._wake is not None
        self.detector.reset()
        while self._stop_reason is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick)
            self._wake.clear()
            if self._stop_reason is not None:
                break
            try:
                self._housekeeping()
            except BackupplanError as error:  # e.g. the state dir cannot be written: say so, go on
                self._state_refused(str(error))
            else:
                if self._trouble is not None and self._retry_at is None:
                    self.message("the state dir can be written again")
                    self._trouble = None

    def _state_refused(self, problem: str) -> None:
        """Something could not be recorded (a full or read-only state dir): say it once, and catch
        up every job again in STATE_RETRY seconds, so that backups go on by themselves once there
        is room again."""
        if problem != self._trouble:
            self.problem(problem)
            self._trouble = problem
        self._retry_at = self.clock.monotonic() + STATE_RETRY

    def _housekeeping(self) -> None:
        jump = self.detector.check()
        if jump is not None:
            direction = "forward" if jump > 0 else "back"
            self.message(f"the clock jumped {direction} by {abs(jump):.0f}s: catching up from the journal")
            self.live.skip_ahead(self.clock.now())
            self._catch_up(None)
        if self._retry_at is not None and self.clock.monotonic() >= self._retry_at:
            self._retry_at = None
            self._catch_up(None)
        if self._to_catch_up:
            jobs, self._to_catch_up = self._to_catch_up, set()
            self._catch_up(jobs)
        signature = _signature(self.loaded.path)
        if signature != self._plan_signature:
            # Reload once the file has stayed the same for a tick: an editor writing in place
            # must not have a half-written plan rejected.
            if signature == self._changed_signature:
                self._reload_reason = self._reload_reason or "the plan file changed"
            self._changed_signature = signature
        if self._reload_reason is not None:
            reason, self._reload_reason = self._reload_reason, None
            self._plan_signature = self._changed_signature = signature
            self._reload(reason)
        if self.journal.changed():
            self.journal.refresh()
        # Compared with the journal's position, not with changed(): a catch-up, a dispatch or an
        # append may have read the new records (a `backupplan resume` from another terminal) first.
        if self.journal.state.last_seq != self._paused_at_seq:
            self._paused_at_seq = self.journal.state.last_seq
            paused = self._paused_jobs()
            resumed = self._paused - paused
            self._paused = paused
            if resumed:
                self._catch_up(resumed)
        if self.clock.monotonic() >= self._next_overdue:
            self._check_overdue()
        if self.clock.monotonic() >= self._next_heartbeat:
            self._heartbeat()

    async def _shutdown(self) -> None:
        reason = self._stop_reason or "shutdown"
        self.message(f"stopping ({reason}): running jobs are stopped and resumed at the next start")
        self.live.stop()
        self.dispatcher.stop_all("shutdown")
        grace = self.loaded.plan.settings.stop_grace + STOP_EXTRA
        if not await self.dispatcher.wait(timeout=grace):
            self.problem(f"runs still going after {grace:.0f}s: {', '.join(self.dispatcher.active)}")
        self.live.shutdown()
        await asyncio.sleep(0)  # let the scheduler's shutdown (queued on the loop) run
        if self.session.notifications is not None:
            self.session.notifications.close(NOTIFY_AT_STOP)
        if self.session.site_feed is not None:
            self.session.site_feed.close()
        with contextlib.suppress(BackupplanError):
            self.journal.append("daemon.stopped", data={"pid": os.getpid(), "reason": reason})
        self.message("backupplan daemon stopped")

    # -- applying, catching up, reloading --------------------------------------------------------

    def _apply(self, loaded: LoadedPlan, *, first: bool) -> None:
        """Apply `loaded` (the plan at start, or a reloaded one) as `apply` does, then schedule it."""
        with apply_lock(loaded.state_dir):
            self.journal.refresh()  # under the lock: what an `apply` that held it committed counts
            reconciliation = reconcile(
                loaded,
                self.journal.state,
                read_applied(loaded.state_dir),
                self.clock.now(),
                busy=self.dispatcher.busy,
            )
            for line in diff_lines(reconciliation) + due_lines(
                reconciliation, commands=False, not_due="acted"
            ):
                self.message(line)
            launches = commit(self.journal, reconciliation, notifications=self.session.notifications)
        if not first:
            self._swap(loaded)
        self.live.sync()
        self._act(reconciliation, launches)

    def _catch_up(self, only: set[str] | None) -> None:
        """Assess the jobs again from the journal (after a jump, a missed fire, a resume, a retry
        time) and act on it."""
        self.journal.refresh()
        reconciliation = reconcile(
            self.loaded,
            self.journal.state,
            read_applied(self.loaded.state_dir),
            self.clock.now(),
            busy=self.dispatcher.busy,
            first_trigger="catch_up",
            only=only,
        )
        launches = commit(
            self.journal, reconciliation, notifications=self.session.notifications, record_plan=False
        )
        for launch in launches:
            self.message(f"{launch.job}: {launch.reason}")
        self._act(reconciliation, launches)

    def _act(self, reconciliation: Reconciliation, launches: list[Launch]) -> None:
        for launch in launches:
            self.live.launch(launch)
        for assessment in reconciliation.assessments:
            if assessment.retry_at is not None:
                self.live.wake_at(assessment.job, assessment.retry_at)
        if launches or not reconciliation.idle:
            self._publish()

    def _reload(self, reason: str) -> None:
        from backupplan.plan.load import load_plan

        try:
            new = load_plan(self.plan_path)
        except PlanError as error:
            self._reject(reason, [problem.render() for problem in error.problems])
            return
        if new.state_dir != self.loaded.state_dir:
            message = (
                f"settings.state_dir changed ({self.loaded.state_dir} → {new.state_dir}): "
                "restart the daemon to use the new state dir"
            )
            self._reject(reason, [message])
            return
        if new.digest == self.loaded.digest:
            self.message(f"plan reloaded ({reason}): no changes")
            return
        self.message(f"plan reloaded ({reason})")
        self._apply(new, first=False)

    def _reject(self, reason: str, problems: list[str]) -> None:
        self.problem(f"the plan was not reloaded ({reason}); the running plan stays in force:")
        for line in problems:
            self.problem(line)
        self.journal.append(
            "plan.rejected", data={"path": str(self.loaded.path), "reason": reason, "problems": problems}
        )

    def _swap(self, new: LoadedPlan) -> None:
        """Make `new` the plan of every part of the daemon (runs in progress finish as they began)."""
        from backupplan.status.sitefeed import SiteFeed

        old = self.loaded
        self.loaded = new
        self.session.loaded = new
        if self.session.notifications is not None:
            self.session.notifications.plan = new.plan
        site_feed = self.session.site_feed
        if site_feed is not None:
            if new.site_dir != old.site_dir:
                site_feed.close()
                self.session.site_feed = SiteFeed(
                    new, self.journal, on_error=self.problem, keeper=self._keeper()
                )
            else:
                site_feed.loaded = new

    # -- what the dispatcher reports -------------------------------------------------------------

    def _skipped(self, job: str, message: str) -> None:
        self.message(f"{job}: {message}")

    def _done(self, outcome: Outcome) -> None:
        job = outcome.launch.job
        # Slots that passed while the run went on and that nobody journaled (it was claimed here,
        # the timers were moved past a clock jump) are found now, from the journal.
        self.catch_up_soon({job})
        if outcome.skipped == "error":
            self._state_refused(f"{job}: {outcome.message}")
        elif outcome.skipped not in (None, "overlap", "paused"):
            self.message(f"{job}: {outcome.message}")
        retry_at = self.dispatcher.retry_time(job)
        failed = outcome.skipped == "network" or (
            outcome.result is not None and outcome.result.status in ("failed", "timed_out")
        )
        if failed and retry_at is not None and self.dispatcher.accepting:
            self.message(
                f"{job}: tried again at {format_timestamp(retry_at)[:16]}Z unless a slot comes first"
            )
            self.live.wake_at(job, retry_at)

    # -- overdue jobs, the site ------------------------------------------------------------------

    def _check_overdue(self) -> None:
        self._next_overdue = self.clock.monotonic() + self.overdue_every
        watch_overdue(self.journal, self.overdue, self.session, self.clock.now(), self.message)

    def _keeper(self) -> Keeper:
        return Keeper("daemon", self.heartbeat_every)

    def _heartbeat(self) -> None:
        now = self.clock.monotonic()
        self._next_heartbeat = now + self.heartbeat_every
        settings = self.loaded.plan.settings
        ping = settings.heartbeat is not None and now >= self._next_ping
        if settings.heartbeat is not None and ping:
            self._next_ping = now + settings.heartbeat.every
        heartbeat(self.session, f"backupplan daemon (pid {os.getpid()})", ping=ping)

    def _publish(self) -> None:
        if self.session.site_feed is not None:
            self.session.site_feed.event(None)

    def _paused_jobs(self) -> set[str]:
        return {job for job, state in self.journal.state.jobs.items() if state.paused}

    # -- signals ---------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        if not self.handle_signals:
            return
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.request_reload, "SIGHUP")

    def _remove_signals(self) -> None:
        if not self.handle_signals:
            return
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(number)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the plan file is edited or replaced (None: it is missing)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_ino, status.st_size)
