"""`backupplan journal repair|compact`: look after the state journal by hand."""

from __future__ import annotations

import click

from backupplan.commands.status import locate_state


def repair_command(plan_path: str, *, state_dir: str | None) -> int:
    """Drop damaged lines from the journal (copies stay aside) and say what was dropped."""
    from backupplan.journal import Journal

    location = locate_state(plan_path, state_dir, light=True)
    with Journal.open(location.state_dir, keep_runs=location.keep_runs) as journal:
        report = journal.repair()
        path = journal.path
    if not report.dropped:
        click.echo(f"{path}: no damage found, nothing to repair.")
        return 0
    count = len(report.dropped)
    click.echo(f"{path}: repaired; {count} damaged stretch{'es' if count != 1 else ''} dropped:")
    for message in report.dropped:
        click.echo(f"  {message}")
    for copy in report.quarantine:
        click.echo(f"The journal as it was is kept at {copy}")
    return 0


def compact_command(plan_path: str, *, state_dir: str | None) -> int:
    """Replace the journal by one checkpoint of its state (also done automatically)."""
    from backupplan.journal import Journal

    location = locate_state(plan_path, state_dir, light=True)
    with Journal.open(location.state_dir, keep_runs=location.keep_runs) as journal:
        before = journal.path.stat().st_size
        journal.compact()
        after = journal.path.stat().st_size
        records = journal.health.records
    click.echo(f"{journal.path}: {records} records compacted ({before} bytes before, {after} after).")
    return 0
