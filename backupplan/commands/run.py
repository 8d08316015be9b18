"""`backupplan run JOB…`, `pause JOB` and `resume JOB`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from backupplan.errors import EXIT_INTERRUPTED, BackupplanError

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.plan.load import LoadedPlan
    from backupplan.runner import Session


def check_job_ids(loaded: LoadedPlan, job_ids: Sequence[str]) -> None:
    """Raise BackupplanError naming an unknown job (with "did you mean")."""
    for job_id in job_ids:
        if job_id not in loaded.jobs:
            from backupplan.plan.messages import suggest  # difflib, for a mistyped name only

            hint = suggest(job_id, loaded.jobs, label="jobs in the plan")
            raise BackupplanError(f"no job {job_id!r} in {loaded.display_path} ({hint})")


def open_journal(loaded: LoadedPlan) -> Journal:
    from backupplan.journal import Journal

    return Journal.open(loaded.state_dir, keep_runs=loaded.plan.settings.log_retention.runs)


def make_session(loaded: LoadedPlan, journal: Journal, on_event: Callable[[Any], None]) -> Session:
    """A Session with the site site_feed and notifications wired to the journal."""
    from backupplan.runner import Session
    from backupplan.status.sitefeed import SiteFeed

    def notify_failed(failure: Any) -> None:
        journal.append("notify.failed", job=failure.job, run=failure.run, data=failure.record())

    def site_problem(message: str) -> None:
        click.echo(f"backupplan: warning: {message}", err=True)

    plan = loaded.plan
    wanted = (
        plan.settings.notify
        or plan.settings.heartbeat
        or any(job.notify or job.ping for job in plan.jobs.values())
    )
    notifications = None
    if wanted:  # the notification layer (and its state records) only when something listens
        from backupplan.notify.hub import Notifications
        from backupplan.notify.spool import Spool

        notifications = Notifications(
            plan, on_failure=notify_failed, host=loaded.host, spool=Spool(loaded.state_dir / "outbox")
        )
        notifications.replay()  # what a process that died (or exited) before sending left behind
    return Session(
        loaded,
        journal,
        on_event=on_event,
        site_feed=SiteFeed(loaded, journal, on_error=site_problem),
        notifications=notifications,
    )


async def run_with_signals(stop_all: Callable[[], object], coroutine: Any) -> tuple[Any, bool]:
    """Await `coroutine` with SIGINT/SIGTERM calling `stop_all` (which stops every run cleanly);
    return (its result, whether a signal came)."""
    loop = asyncio.get_running_loop()
    stopped = [False]

    def stop() -> None:
        stopped[0] = True
        stop_all()

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop)
    try:
        return await coroutine, stopped[0]
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


def run_command(
    plan_path: str, job_ids: Sequence[str], *, dry_run: bool, force: bool, accept_changes: bool = False
) -> int:
    """Run the named jobs now, in the foreground; exit 0 only if every run succeeded.
    `accept_changes` lets them through their guard."""
    from backupplan.commands.display import RunDisplay, summary_lines
    from backupplan.plan.load import load_plan

    loaded = load_plan(plan_path)
    check_job_ids(loaded, job_ids)
    job_ids = list(dict.fromkeys(job_ids))
    if dry_run:
        return dry_run_command(loaded, job_ids)
    journal = open_journal(loaded)
    try:
        runnable = []
        for job_id in job_ids:
            refusal = refusal_of(loaded, journal, job_id, force=force)
            if refusal:
                click.echo(f"backupplan: {refusal}", err=True)
            else:
                runnable.append(job_id)
        if not runnable:
            return 1
        display = RunDisplay()
        session = make_session(loaded, journal, display)
        results, interrupted = asyncio.run(
            run_with_signals(
                lambda: session.stop_all("signal"),
                session.run_many(runnable, accept_changes=accept_changes),
            )
        )
        for line in summary_lines(results):
            click.echo(line)
        finish(session)
    finally:
        journal.close()
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if len(runnable) == len(job_ids) and all(result.ok for result in results) else 1


def finish(session: Session) -> None:
    """Let queued notifications go out (bounded) and the site settle before the process exits."""
    if session.notifications is not None:
        from backupplan.notify.hub import EXIT_FLUSH_TIMEOUT

        session.notifications.close(EXIT_FLUSH_TIMEOUT)
    if session.site_feed is not None:
        session.site_feed.close()


def refusal_of(loaded: LoadedPlan, journal: Journal, job_id: str, *, force: bool) -> str | None:
    """Why `run` will not start this job (paused, disabled), or None."""
    if force:
        return None
    job_state = journal.state.jobs.get(job_id)
    if job_state is not None and job_state.paused:
        return f"{job_id} is paused: `backupplan resume {job_id}` first, or pass --force"
    if not loaded.jobs[job_id].enabled:
        return f"{job_id} is disabled in the plan (enabled: false); pass --force to run it anyway"
    return None


def dry_run_command(loaded: LoadedPlan, job_ids: list[str]) -> int:
    from backupplan.runner.dryrun import dry_run

    async def all_jobs() -> list[Any]:
        return list(
            await asyncio.gather(*(dry_run(job, loaded.jobs[job], loaded.base_dir) for job in job_ids))
        )

    failed = False
    for result in asyncio.run(all_jobs()):
        for line in result.lines():
            click.echo(line)
        failed = failed or bool(result.errors)
    click.echo("Dry run: nothing was written.")
    return 1 if failed else 0


def pause_command(plan_path: str, job_ids: Sequence[str]) -> int:
    """Pause jobs: the scheduler and `run` leave them alone; a running one is stopped within ~2 s by
    the process that runs it, and ends interrupted (resumable)."""
    from backupplan.journal import lock_holder
    from backupplan.plan.load import load_plan

    loaded = load_plan(plan_path)
    check_job_ids(loaded, job_ids)
    journal = open_journal(loaded)
    try:
        for job_id in job_ids:
            state = journal.state.jobs.get(job_id)
            if state is not None and state.paused and not state.current:
                click.echo(f"{job_id} is already paused")
                continue
            running = lock_holder(loaded.state_dir, job_id) is not None
            journal.append("job.paused", job=job_id, data={"by": "backupplan pause"})
            if running:
                journal.append("control.pause", job=job_id)
                stopped = journal.wait_for(_not_running(job_id), timeout=10.0)
                click.echo(
                    f"{job_id} paused; its running run was "
                    + ("stopped." if stopped else "asked to stop (it has not stopped yet).")
                )
            else:
                click.echo(f"{job_id} paused. `backupplan resume {job_id}` lets it run again.")
    finally:
        journal.close()
    return 0


def _not_running(job_id: str) -> Callable[[Any], bool]:
    return lambda state: state.jobs[job_id].current is None


def resume_command(plan_path: str, job_ids: Sequence[str]) -> int:
    from backupplan.plan.load import load_plan

    loaded = load_plan(plan_path)
    check_job_ids(loaded, job_ids)
    journal = open_journal(loaded)
    try:
        for job_id in job_ids:
            state = journal.state.jobs.get(job_id)
            if state is None or not (state.paused or state.pause_requested):
                click.echo(f"{job_id} is not paused")
                continue
            journal.append("job.resumed", job=job_id)
            click.echo(f"{job_id} resumed: it runs at its next slot, or now with `backupplan run {job_id}`.")
    finally:
        journal.close()
    return 0
