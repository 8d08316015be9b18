"""`backupplan daemon`: apply, then keep running jobs on their schedules until stopped."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.plan.load import LoadedPlan
    from backupplan.runner import RunEvent, Session


def _stamp() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def say(text: str) -> None:
    click.echo(f"{_stamp()} {text}")


def complain(text: str) -> None:
    click.echo(f"{_stamp()} backupplan: {text}", err=True)


def show_event(event: RunEvent) -> None:
    """Runs starting and ending, and their notes (retries, hooks); no progress lines."""
    from backupplan.commands.display import finished_line

    if event.kind == "started":
        say(f"{event.job}: started (run {event.run})")
    elif event.kind == "note":
        say(f"{event.job}: {event.message}")
    elif event.kind == "finished" and event.result is not None:
        say(finished_line(event.result))


def daemon_command(plan_path: str) -> int:
    """Run the daemon in the foreground until SIGTERM or SIGINT; exit 0 after a clean stop."""
    from backupplan.commands.run import make_session
    from backupplan.scheduler.daemon import Daemon

    def session_for(loaded: LoadedPlan, journal: Journal) -> Session:
        return make_session(loaded, journal, show_event)

    daemon = Daemon(plan_path, make_session=session_for, on_message=say, on_problem=complain)
    result: Any = asyncio.run(daemon.run())
    return int(result)
