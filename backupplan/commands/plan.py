"""`backupplan plan`: what changed since the last apply, and which jobs are due and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from backupplan.journal import lock_holder

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan
    from backupplan.scheduler.reconcile import Reconciliation

EXIT_CHANGES = 2  # --detailed-exitcode: the plan differs from the applied one


def read_reconciliation(loaded: LoadedPlan, now: datetime) -> Reconciliation:
    """Reconcile without writing anything: the journal is read, not repaired or appended to."""
    from backupplan.journal import Journal
    from backupplan.scheduler.applied import read_applied
    from backupplan.scheduler.reconcile import reconcile

    def busy(job_id: str) -> str | None:
        holder = lock_holder(loaded.state_dir, job_id)
        return None if holder is None else f"pid {holder.pid} holds its lock"

    with Journal.open(
        loaded.state_dir, keep_runs=loaded.plan.settings.log_retention.runs, read_only=True
    ) as journal:
        return reconcile(loaded, journal.state, read_applied(loaded.state_dir), now, busy=busy)


def plan_command(
    plan_path: str, *, detailed_exitcode: bool, now: datetime | None = None, host: str | None = None
) -> int:
    """Print the diff and the due jobs; with `detailed_exitcode`, exit 2 when the plan changed.
    `host`: preview another machine of a fleet plan (its jobs, as if they never ran there: its
    journal is on that machine)."""
    from backupplan.plan.load import load_plan
    from backupplan.scheduler.report import diff_lines, due_lines

    loaded = load_plan(plan_path, host=host)
    here = loaded.machine
    if host is not None and host.lower() != here.lower():
        from backupplan.journal.state import State
        from backupplan.scheduler.reconcile import reconcile

        click.echo(f"preview: {loaded.acting_as()} (this machine is {here})")
        click.echo("its journal is on that machine: shown here as if nothing had run there yet")
        click.echo("")
        reconciliation = reconcile(loaded, State(), None, now or datetime.now(UTC))
    else:
        if loaded.in_fleet:
            click.echo(loaded.acting_as())
            click.echo("")
        reconciliation = read_reconciliation(loaded, now or datetime.now(UTC))
    for line in [*diff_lines(reconciliation), "", *due_lines(reconciliation)]:
        click.echo(line)
    changed = reconciliation.applied is None or not reconciliation.diff.empty
    return EXIT_CHANGES if detailed_exitcode and changed else 0
