"""`backupplan doctor [--json]`: will my backups work? Exit 0 when no check warns or fails, else 1."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import orjson


def doctor_command(plan_path: str, *, as_json: bool, now: datetime | None = None) -> int:
    """Run every check of docs/doctor.md; print the screen or the JSON report (docs/doctor-json.md);
    return the report's exit code."""
    from backupplan.doctor import Context, diagnose, render
    from backupplan.secrets import mask

    report = diagnose(plan_path, Context(now=now or datetime.now(UTC)))
    if as_json:
        click.echo(orjson.dumps(report.to_json(mask), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render(report))
    return report.exit_code
