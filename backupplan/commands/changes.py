"""`backupplan changes JOB [RUN] [--grep REGEX] [--json]`: the paths a run added, changed and
deleted at the destination, from its changes list (logs/<job>/<run>.changes.gz)."""

from __future__ import annotations

import gzip
import re
import zlib

import click
import orjson

from backupplan.commands.history import changes_text, unknown_job
from backupplan.commands.status import locate_state

KINDS = {"+": "added", "~": "changed", "-": "deleted"}


def changes_command(
    plan_path: str, job: str, run: str | None, *, state_dir: str | None, grep: str | None, as_json: bool
) -> int:
    """Print the changes of JOB's run `run` (an id or its start; default the newest that counted
    changes); exit 1 when there is no such run or its list is gone."""
    pattern = None
    if grep is not None:
        try:
            pattern = re.compile(grep, re.IGNORECASE)
        except re.error as error:
            raise click.BadParameter(f"not a regular expression: {error}", param_hint="--grep") from None
    location = locate_state(plan_path, state_dir, light=True)
    with location.open_journal() as journal:
        state = journal.state
        known = set(state.jobs) | location.jobs
        if job not in known:
            raise unknown_job(job, known)
        found = state.jobs.get(job)
        history = list(found.history) if found is not None else []
    candidates = [summary for summary in history if summary.changes is not None]
    if run is not None:
        candidates = [summary for summary in history if summary.run.startswith(run)]
    if not candidates:
        what = (
            f"no run of {job} starts with {run!r}" if run else f"no run of {job} has counted its changes yet"
        )
        click.echo(f"backupplan: {what}", err=True)
        return 1
    summary = candidates[0]
    path = location.state_dir / "logs" / job / f"{summary.run}.changes.gz"
    lines: list[tuple[str, str]] = []
    if summary.changes and any(summary.changes.values()):
        try:
            with gzip.open(path, "rb") as handle:
                for raw in handle:
                    text = raw.decode("utf-8", "backslashreplace").rstrip("\n")
                    kind, _, name = text.partition(" ")
                    if kind in KINDS and (pattern is None or pattern.search(name)):
                        lines.append((KINDS[kind], name))
        except FileNotFoundError:
            click.echo(
                f"backupplan: the changes list of run {summary.run} was rotated away with its log", err=True
            )
            return 1
        except (OSError, EOFError, zlib.error) as error:
            click.echo(f"backupplan: {path} cannot be read ({error}); it may be cut short", err=True)
    if as_json:
        document = {"job": job, "run": summary.run, "status": summary.status, "changes": summary.changes,
                    "paths": [{"change": kind, "path": name} for kind, name in lines]}  # fmt: skip
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return 0
    for kind, name in lines:
        click.echo(f"{kind:8} {click.unstyle(name)}")
    click.echo(
        f"\nRun {summary.run} of {job} ({summary.status.replace('_', ' ')}): {changes_text(summary.changes)}"
        + (f"; {len(lines)} path(s) match {grep!r}" if grep is not None else "")
    )
    return 0
