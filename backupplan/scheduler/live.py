"""The daemon's live schedule: APScheduler firing each job at its slots, and retry wake-ups.

One scheduler job per enabled, scheduled job of the plan (keyed by the job id; intervals counted
from the job's last run), plus one-off wake-ups (`retry:<job>`) at a failed run's retry time. A
fire becomes a launch through the dispatcher, for the slot APScheduler reported; the second fire
of a fixed-time job on a fall-back day is journaled as skipped instead (`run.skipped {reason:
dst}`). A fire too late to run is not run: the host catches the job up from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from backupplan.errors import BackupplanError
from backupplan.scheduler.reconcile import Launch

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.plan.load import LoadedPlan
    from backupplan.scheduler.clock import Clock
    from backupplan.scheduler.dispatch import Dispatcher, Outcome

RETRY_KEY = "retry:"  # scheduler keys of retry wake-ups: "retry:<job>"


class Host(Protocol):
    """What the live schedule needs from the daemon."""

    loaded: LoadedPlan
    journal: Journal
    clock: Clock
    dispatcher: Dispatcher

    def problem(self, text: str) -> None: ...

    def catch_up_soon(self, jobs: set[str]) -> None: ...


class LiveSchedule:
    """Keeps APScheduler's jobs in line with the host's plan and turns fires into launches."""

    def __init__(self, host: Host) -> None:
        from backupplan.plan.schedule import SchedulerHooks, new_scheduler

        self.host = host
        self.scheduler: Any = new_scheduler(
            host.loaded.timezone, SchedulerHooks(self.submitted, self.missed, self.overlap, self.failed)
        )
        self._slots: dict[str, datetime] = {}  # the slot of each fire APScheduler just submitted
        self._scheduled: dict[str, tuple[str, str]] = {}  # job -> (schedule, timezone) it fires by

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        """Fire nothing more (runs already going are the dispatcher's to stop)."""
        with contextlib.suppress(Exception):
            self.scheduler.pause()

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=False)

    def skip_ahead(self, now: datetime) -> None:
        from backupplan.plan.schedule import skip_ahead

        skip_ahead(self.scheduler, now)

    # -- keeping the schedule in line with the plan ----------------------------------------------

    def sync(self) -> None:
        """One scheduler job per enabled, scheduled job of the plan; others removed."""
        from backupplan.plan.schedule import unschedule

        loaded = self.host.loaded
        wanted = {job_id: job for job_id, job in loaded.jobs.items() if job.enabled and job.schedule}
        for job_id in list(self._scheduled):
            if job_id not in wanted:
                unschedule(self.scheduler, job_id)
                del self._scheduled[job_id]
        zone = loaded.plan.settings.timezone
        for job_id, job in wanted.items():
            if self._scheduled.get(job_id) != (job.schedule, zone):
                self.anchor(job_id, None)

    def anchor(self, job_id: str, at: datetime | None) -> None:
        """(Re)schedule the job; its interval, if it has one, counts from `at` (default: the start
        of its latest run, or now)."""
        from backupplan.journal.records import parse_timestamp
        from backupplan.plan.schedule import parse_schedule, schedule_slots

        loaded = self.host.loaded
        job = loaded.jobs[job_id]
        assert job.schedule is not None
        if at is None:
            state = self.host.journal.state.jobs.get(job_id)
            latest = state.latest_run() if state is not None else None
            at = parse_timestamp(latest.started_at) if latest is not None else self.host.clock.now()
        schedule = parse_schedule(job.schedule, loaded.timezone)
        schedule_slots(self.scheduler, job_id, schedule, loaded.timezone, self.fire, anchor=at)
        self._scheduled[job_id] = (job.schedule, loaded.plan.settings.timezone)

    def launch(self, launch: Launch) -> asyncio.Task[Outcome] | None:
        """Start a launch; a run off the grid of an interval job moves the grid to it."""
        from backupplan.plan.schedule import parse_schedule

        task = self.host.dispatcher.start(launch)
        loaded = self.host.loaded
        job = loaded.jobs.get(launch.job)
        off_grid = task is not None and launch.trigger != "schedule"
        if off_grid and job is not None and job.schedule:
            interval = parse_schedule(job.schedule, loaded.timezone).kind == "interval"
            if interval:
                self.anchor(launch.job, self.host.clock.now())
        return task

    def wake_at(self, job_id: str, at: datetime) -> None:
        """Look at the job again at `at` (a failed run's retry time)."""
        from backupplan.plan.schedule import schedule_once

        schedule_once(self.scheduler, RETRY_KEY + job_id, at, self._wake)

    async def _wake(self, key: str) -> None:
        self.host.catch_up_soon({key.removeprefix(RETRY_KEY)})

    # -- fires ---------------------------------------------------------------------------------

    async def fire(self, job_id: str) -> None:
        """A slot of `job_id` came (APScheduler awaits this for as long as the run lasts, so a
        slot that comes meanwhile is reported as an overlap)."""
        from backupplan.plan.schedule import parse_schedule, repeats_wall_time

        host = self.host
        slot = self._slots.pop(job_id, None) or host.clock.now()
        job = host.loaded.jobs.get(job_id)
        if job is None or not job.enabled or not job.schedule or not host.dispatcher.accepting:
            return
        launch = Launch(job_id, "schedule", slot, "slot")
        try:
            if repeats_wall_time(parse_schedule(job.schedule, host.loaded.timezone), slot):
                host.dispatcher.skip(
                    launch,
                    "dst",
                    f"skipped: {slot:%H:%M} had already run before the clocks went back (a job at a "
                    "fixed time runs once per time of day)",
                )
                return
            task = self.launch(launch)
        except BackupplanError as error:
            host.problem(f"{job_id}: {error}")
            return
        if task is not None:
            await asyncio.shield(task)  # a shutdown cancels this fire, never the run itself

    # -- what APScheduler reports --------------------------------------------------------------

    def submitted(self, key: str, slot: datetime) -> None:
        self._slots[key] = slot

    def missed(self, key: str, slot: datetime) -> None:
        # Too late to run (the loop was blocked, the machine suspended): the host finds the
        # missed slots in the journal, as at start.
        if not key.startswith(RETRY_KEY):
            self.host.catch_up_soon({key})

    def overlap(self, key: str, slots: list[datetime]) -> None:
        if key.startswith(RETRY_KEY) or key not in self.host.loaded.jobs:
            return
        launch = Launch(key, "schedule", slots[-1], "slot")
        try:
            self.host.dispatcher.skip(launch, "overlap", "skipped: the previous run was still going")
        except BackupplanError as error:
            self.host.problem(f"{key}: {error}")

    def failed(self, key: str, error: BaseException) -> None:
        if isinstance(error, asyncio.CancelledError):
            return  # a fire still waiting for its run when the daemon stopped
        self.host.problem(f"internal error while running {key}: {type(error).__name__}: {error}")
