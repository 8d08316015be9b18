"""`backupplan validate`: every problem at once, or a one-line summary."""

from __future__ import annotations

import click

from backupplan.plan.load import load_plan


def validate_command(path: str, *, without_env: bool = False) -> int:
    """Load the plan at `path`; print a summary and return 0, or raise PlanError listing every
    problem. `without_env`: unset ${VAR}s are placeholders, and what could not be checked without
    their values is printed as notes (docs/remote.md: validating in CI and pre-commit)."""
    loaded = load_plan(path, without_env=without_env, locate_warnings=True)
    for note in loaded.notes:
        click.echo(f"note: {note.render()}")
    for warning in loaded.warnings:
        click.echo(f"warning: {warning.render()}")
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
    if loaded.in_fleet:
        click.echo(loaded.acting_as())
    return 0


def validate_many(paths: tuple[str, ...], *, without_env: bool = False) -> int:
    """Validate each plan, reporting each one's problems; return 1 when any is invalid."""
    from backupplan.errors import PlanError
    from backupplan.secrets import mask

    failed = False
    for path in paths:
        try:
            validate_command(path, without_env=without_env)
        except PlanError as invalid:
            failed = True
            for problem in invalid.problems:
                click.echo(mask(problem.render()), err=True)
            count = len(invalid.problems)
            click.echo(f"{path}: {count} problem{'s' if count != 1 else ''} found.", err=True)
    return 1 if failed else 0
