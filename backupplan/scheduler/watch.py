"""Keeping watch between runs, the same way for the daemon (every minute) and for `apply` (once, the
OS timers' route): journal the overdue episodes that start or end and republish what they change,
rewrite status.json so that its age shows that something still watches, ping settings.heartbeat."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from backupplan.journal.records import format_timestamp
from backupplan.scheduler.overdue import OverdueReport, OverdueWatch, check_overdue

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.plan.load import LoadedPlan
    from backupplan.runner.session import Session


def watch_overdue(
    journal: Journal,
    watch: OverdueWatch,
    session: Session,
    now: datetime,
    say: Callable[[str], None],
) -> OverdueReport:
    """Journal (and notify) overdue episodes; say each one that starts or ends; republish status,
    site and metrics for the jobs they concern."""
    report = check_overdue(journal, watch, session.loaded, now, session.notifications)
    for item in report.started:
        paused = f" ({item.paused})" if item.paused else ""
        say(f"{item.job}: overdue since {format_timestamp(item.deadline)[:16]}Z{paused}")
    for job in report.ended:
        say(f"{job}: on time again")
    if report.changed and session.site_feed is not None:
        session.site_feed.event(report.changed)
    return report


def heartbeat(session: Session, who: str, *, ping: bool) -> None:
    """Rewrite status.json; send the notifications a dead process left in the outbox; with
    `ping`, ping settings.heartbeat (a fail ping, naming the problem,
    while the state dir cannot record a run). `who` says what keeps watch, e.g. `backupplan daemon
    (pid 42)`."""
    if session.site_feed is not None:
        session.site_feed.heartbeat()
    if session.notifications is not None:
        session.notifications.replay()  # left by a process that died meanwhile
    loaded: LoadedPlan = session.loaded
    if not ping or session.notifications is None or loaded.plan.settings.heartbeat is None:
        return
    from backupplan.status.facts import state_space

    problem = state_space(loaded.state_dir).problem
    session.notifications.heartbeat(
        f"{who} on {loaded.host} keeps watch over {len(loaded.jobs)} jobs",
        problem=f"the state dir {loaded.state_dir} {problem}" if problem else None,
    )
