"""`backupplan doctor [--json]`: will my backups work? Exit 0 when no check warns or fails, else 1.

The screen: one line per check under its section's title, problems with what to do, then a
one-line summary. Every text is secret-masked and made safe for a terminal."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import orjson

from backupplan.doctor.model import SECTIONS, Report, Status
from backupplan.secrets import mask
from backupplan.site.text import neutralise


def doctor_command(plan_path: str, *, as_json: bool, now: datetime | None = None) -> int:
    """Run every check of docs/doctor.md; print the screen or the JSON report (docs/doctor-json.md);
    return the report's exit code."""
    from backupplan.doctor import Context, diagnose

    report = diagnose(plan_path, Context(now=now or datetime.now(UTC)))
    if as_json:
        click.echo(orjson.dumps(report.to_json(mask), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render(report))
    return report.exit_code


LABELS: dict[Status, tuple[str, dict[str, object]]] = {
    "ok": ("ok", {"fg": "green"}),
    "info": ("info", {"dim": True}),
    "warn": ("WARN", {"fg": "yellow", "bold": True}),
    "fail": ("FAIL", {"fg": "red", "bold": True}),
}


def clean(text: str) -> str:
    """Given any text from a check, return it masked and without escapes or control characters."""
    return neutralise(mask(text))


def render(report: Report) -> str:
    """Given a report, return the screen (styled; click.echo drops the styles off a terminal)."""
    lines = [f"backupplan doctor: {clean(report.plan)}"]
    section = None
    for check in report.checks:
        if check.section != section:
            section = check.section
            lines += ["", click.style(SECTIONS.get(section, section), bold=True)]
        label, style = LABELS[check.status]
        text = clean(check.message)
        if check.hint:
            text += f" — {clean(check.hint)}"
        lines.append(f"  {click.style(label.ljust(4), **style)}  {text}")  # type: ignore[arg-type]
    lines += ["", summary(report)]
    return "\n".join(lines)


def summary(report: Report) -> str:
    """`Everything looks fine (12 checks).` or `2 problems: 1 failure, 1 warning.`"""
    counts = report.counts()
    if not report.problems:
        return f"Everything looks fine ({len(report.checks)} checks)."
    parts = []
    if counts["fail"]:
        parts.append(f"{counts['fail']} failure{'s' if counts['fail'] != 1 else ''}")
    if counts["warn"]:
        parts.append(f"{counts['warn']} warning{'s' if counts['warn'] != 1 else ''}")
    total = len(report.problems)
    return f"{total} problem{'s' if total != 1 else ''}: {', '.join(parts)}."
