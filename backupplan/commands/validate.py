"""`backupplan validate`: every problem at once, or a one-line summary."""

from __future__ import annotations

import click

from backupplan.plan.load import kept_facts, load_plan


def validate_command(path: str, *, without_env: bool = False) -> int:
    """Load the plan at `path`; print a summary and return 0, or raise PlanError listing every
    problem. `without_env`: unset ${VAR}s are placeholders, and what could not be checked without
    their values is printed as notes (docs/remote.md: validating in CI and pre-commit).

    A plan the cache holds as it is now was found valid under the same key (docs/performance.md):
    its verdict is read from there, unless it has notes or warnings to show with their lines."""
    facts = None if without_env else kept_facts(path)
    if facts is not None and not facts.remarks:
        summary, acting_as = facts.summary, facts.acting_as
    else:
        loaded = load_plan(path, without_env=without_env, locate_warnings=True)
        for note in loaded.notes:
            click.echo(f"note: {note.render()}")
        for warning in loaded.warnings:
            click.echo(f"warning: {warning.render()}")
        summary, acting_as = loaded.summary(), loaded.acting_as() if loaded.in_fleet else None
    click.echo(f"{path}: valid ({summary})")
    if acting_as is not None:
        click.echo(acting_as)
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
