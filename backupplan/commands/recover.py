"""`backupplan recover [--resume|--pause|--dismiss] [JOB]`: runs a crash interrupted, by hand.

Without a flag it lists them: runs nobody handled yet (`apply` and the daemon handle those by
`settings.recovery`), and runs whose job was paused by `recovery: pause` and is still paused; and
the jobs whose last run the guard held, with how to let one through (`run --accept-changes`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

import click

from backupplan.errors import EXIT_INTERRUPTED, BackupplanError

if TYPE_CHECKING:
    from backupplan.journal import Interruption, Journal
    from backupplan.plan.load import LoadedPlan

Action = Literal["resume", "pause", "dismiss"]


def open_interruptions(journal: Journal, job: str | None) -> list[Interruption]:
    """Interruptions still waiting for a decision: pending ones, and paused ones whose job is
    still paused; newest last."""
    found = []
    for item in journal.state.interruptions:
        if job is not None and item.job != job:
            continue
        state = journal.state.jobs.get(item.job)
        held = item.handled == "paused" and state is not None and state.paused
        if item.handled == "pending" or held:
            found.append(item)
    return found


def recover_command(plan_path: str, job: str | None, action: Action | None) -> int:
    from backupplan.commands.run import open_journal
    from backupplan.plan.load import load_plan

    loaded = load_plan(plan_path)
    journal = open_journal(loaded)
    try:
        known = set(loaded.jobs) | {item.job for item in journal.state.interruptions}
        if job is not None and job not in known:
            raise BackupplanError(f"no job {job!r} in {loaded.display_path} and no interrupted run of it")
        items = open_interruptions(journal, job)
        if action is None:
            _list(loaded, items)
            _list_held(journal, job)
            return 0
        if not items:
            click.echo("No interrupted run to handle" + (f" for {job}." if job else "."))
            return 0
        return _handle(loaded, journal, items, action)
    finally:
        journal.close()


def _list(loaded: LoadedPlan, items: list[Interruption]) -> None:
    from backupplan.journal.records import parse_timestamp

    if not items:
        click.echo("No interrupted run needs handling.")
        return
    policy = loaded.plan.settings.recovery
    click.echo("Runs a crash interrupted:")
    for item in items:
        when = parse_timestamp(item.detected_at).astimezone(loaded.timezone).strftime("%Y-%m-%d %H:%M %Z")
        if item.handled == "pending":
            next_step = f"pending: the next apply or daemon start will {policy} it (recovery: {policy})"
        else:
            next_step = "the job is paused until it is resumed or recovered"
        click.echo(f"  {item.job}  run {item.run}, found {when}: {next_step}")
    click.echo("Handle them with `backupplan recover --resume|--pause|--dismiss [JOB]`.")


def _list_held(journal: Journal, job: str | None) -> None:
    """Jobs whose last run was held by their guard (docs/guard.md)."""
    held = [
        (job_id, state.last_outcome)
        for job_id, state in sorted(journal.state.jobs.items())
        if (job is None or job_id == job) and state.last_outcome is not None
        and state.last_outcome.status == "held"
    ]  # fmt: skip
    if not held:
        return
    click.echo("Runs the guard held (nothing was written to their backup):")
    for job_id, run in held:
        assert run is not None
        click.echo(f"  {job_id}  run {run.run}: {run.reason}")
        click.echo(
            f"    look with `backupplan changes {job_id}`; if it is right, "
            f"`backupplan run {job_id} --accept-changes`"
        )


def _handle(loaded: LoadedPlan, journal: Journal, items: list[Interruption], action: Action) -> int:
    from backupplan.scheduler.due import Recovery, RecoveryAction
    from backupplan.scheduler.reconcile import handle_recovery

    done: RecoveryAction = {"resume": "resumed", "pause": "paused", "dismiss": "dismissed"}[action]  # type: ignore[assignment]
    to_run: list[str] = []
    for item in items:
        held = item.handled == "paused"  # paused by `recovery: pause`: a decision lets it go
        recovery = Recovery(item.job, item.run, done, "by hand (backupplan recover)", item.process)
        handle_recovery(journal, recovery, notifications=None, stop_grace=loaded.plan.settings.stop_grace)
        state = journal.state.jobs.get(item.job)
        if action != "pause" and held and state is not None and state.paused:
            journal.append("job.resumed", job=item.job)
        if action == "resume" and item.job in loaded.jobs and item.job not in to_run:
            to_run.append(item.job)
        click.echo(f"{item.job}: run {item.run} {done}")
    if not to_run:
        return 0
    return _run_now(loaded, journal, to_run)


def _run_now(loaded: LoadedPlan, journal: Journal, job_ids: list[str]) -> int:
    from backupplan.commands.display import RunDisplay, summary_lines
    from backupplan.commands.run import finish, make_session, run_with_signals

    session = make_session(loaded, journal, RunDisplay())
    try:
        results, interrupted = asyncio.run(
            run_with_signals(lambda: session.stop_all("signal"), session.run_many(job_ids, trigger="resume"))
        )
    finally:
        finish(session)
    for line in summary_lines(results):
        click.echo(line)
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if all(result.ok for result in results) else 1
