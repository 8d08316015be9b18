"""`backupplan apply [--dry-run]`: record the plan, run every job that is due, wait, summarize."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from backupplan.errors import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from backupplan.journal import Journal, LockHolder
    from backupplan.plan.load import LoadedPlan
    from backupplan.runner import RunResult, Session
    from backupplan.scheduler.dispatch import Dispatcher, Outcome


def apply_command(plan_path: str, *, dry_run: bool, now: datetime | None = None) -> int:
    """Apply the plan; exit 0 when every run succeeded (or nothing was due), 1 otherwise."""
    from backupplan.journal import DAEMON_LOCK, lock_holder
    from backupplan.plan.load import load_plan

    loaded = load_plan(plan_path)
    if loaded.in_fleet:
        click.echo(loaded.acting_as())
    if dry_run:
        return _dry_run(loaded, now or datetime.now(UTC))
    daemon = lock_holder(loaded.state_dir, DAEMON_LOCK) if loaded.state_dir.exists() else None
    if daemon is not None:
        return _defer_to_daemon(loaded, daemon, now or datetime.now(UTC))
    from backupplan.commands.run import open_journal

    journal = open_journal(loaded)
    try:
        return asyncio.run(_apply(loaded, journal, now))
    finally:
        journal.close()


def _dry_run(loaded: LoadedPlan, now: datetime) -> int:
    from backupplan.commands.plan import read_reconciliation
    from backupplan.scheduler.report import diff_lines, due_lines

    reconciliation = read_reconciliation(loaded, now)
    for line in [*diff_lines(reconciliation), "", *due_lines(reconciliation, not_due="acted")]:
        click.echo(line)
    click.echo("Dry run: nothing was recorded or run.")
    return 0


def _defer_to_daemon(loaded: LoadedPlan, daemon: LockHolder, now: datetime) -> int:
    """A daemon runs this state dir: it applies the plan itself; ask it to reload now."""
    from backupplan.commands.plan import read_reconciliation
    from backupplan.scheduler.report import diff_lines

    for line in diff_lines(read_reconciliation(loaded, now)):
        click.echo(line)
    if daemon.pid:
        try:
            os.kill(daemon.pid, signal.SIGHUP)
        except OSError:
            pass
        else:
            click.echo(
                f"A backupplan daemon (pid {daemon.pid}) runs this plan: it was asked to reload it "
                "and runs what is due. `backupplan status` shows what it does."
            )
            return 0
    click.echo("A backupplan daemon runs this plan: it reloads the plan file when it changes.")
    return 0


async def _apply(loaded: LoadedPlan, journal: Journal, now: datetime | None) -> int:
    from backupplan.commands.display import RunDisplay, summary_lines
    from backupplan.commands.run import finish, make_session
    from backupplan.scheduler.applied import read_applied
    from backupplan.scheduler.clock import SystemClock
    from backupplan.scheduler.dispatch import Dispatcher
    from backupplan.scheduler.locks import apply_lock
    from backupplan.scheduler.reconcile import commit, reconcile
    from backupplan.scheduler.report import diff_lines, due_lines

    session = make_session(loaded, journal, RunDisplay())
    outcomes: list[Outcome] = []
    refused: list[RunResult] = []

    def skipped(job: str, message: str) -> None:
        from backupplan.runner import RunResult

        click.echo(f"{job}: {message}")
        refused.append(RunResult(job, "", "skipped", message, 0.0))

    dispatcher = Dispatcher(session, journal, clock=SystemClock(), on_skip=skipped, on_done=outcomes.append)
    try:
        with apply_lock(loaded.state_dir):
            journal.refresh()
            reconciliation = reconcile(
                loaded,
                journal.state,
                read_applied(loaded.state_dir),
                now or datetime.now(UTC),
                busy=dispatcher.busy,
            )
            if reconciliation.idle:
                click.echo("No changes. Nothing is due.")
                _keep_watch(journal, session, now)
                return 0
            for line in [*diff_lines(reconciliation), "", *due_lines(reconciliation, not_due="acted")]:
                click.echo(line)
            launches = commit(journal, reconciliation, notifications=session.notifications)
            if reconciliation.record:
                click.echo(f"Recorded {loaded.display_path} as the applied plan ({loaded.digest[:19]}…).")
            if launches:
                click.echo("")
            for launch in launches:
                dispatcher.start(launch)
        interrupted = await _wait_with_signals(dispatcher)
        _keep_watch(journal, session, now)
    finally:
        finish(session)
    order = {job_id: index for index, job_id in enumerate(loaded.jobs)}
    results = [outcome.result or _as_result(outcome) for outcome in outcomes] + refused
    results.sort(key=lambda result: order.get(result.job, len(order)))  # plan order, not end order
    for line in summary_lines(results):
        click.echo(line)
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def _keep_watch(journal: Journal, session: Session, now: datetime | None) -> None:
    """What the daemon does between runs, done once by every `apply` (the OS timers' route)."""
    from backupplan.scheduler.overdue import OverdueWatch
    from backupplan.scheduler.watch import heartbeat, watch_overdue

    watch_overdue(journal, OverdueWatch(), session, now or datetime.now(UTC), click.echo)
    heartbeat(session, "backupplan apply", ping=True)


def _as_result(outcome: Outcome) -> RunResult:
    from backupplan.runner import RunResult

    return RunResult(outcome.launch.job, "", "skipped", outcome.message, 0.0)


async def _wait_with_signals(dispatcher: Dispatcher) -> bool:
    """Wait for every run; SIGINT/SIGTERM stop them cleanly (recorded as interrupted). Return
    whether a signal came."""
    from backupplan.commands.run import run_with_signals

    _, interrupted = await run_with_signals(lambda: dispatcher.stop_all("signal"), dispatcher.wait())
    return bool(interrupted)
