"""`backupplan validate`: every problem at once, or a one-line summary."""

from __future__ import annotations

import click

from backupplan.plan.load import load_plan


def validate_command(path: str) -> int:
    """Load the plan at `path`; print a summary and return 0, or raise PlanError listing every problem."""
    loaded = load_plan(path)
    jobs = loaded.jobs
    scheduled = sum(1 for job in jobs.values() if job.schedule)
    disabled = sum(1 for job in jobs.values() if not job.enabled)
    engines = sorted({job.engine for job in jobs.values()})
    parts = [f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}"]
    if jobs:
        parts.append(f"{scheduled} scheduled")
        parts.append(f"{len(jobs) - scheduled} manual")
    if disabled:
        parts.append(f"{disabled} disabled")
    if engines:
        parts.append("engines: " + ", ".join(engines))
    click.echo(f"{loaded.display_path}: valid ({'; '.join(parts)})")
    return 0
