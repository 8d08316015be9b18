"""`backupplan history JOB [--limit N] [--json]`: a job's runs, newest first."""

from __future__ import annotations

from itertools import islice

import click
import orjson

from backupplan.commands.status import local_time, locate_state, table
from backupplan.units import format_duration, format_size

HISTORY_FORMAT = 1


def unknown_job(job: str, known: set[str]) -> click.BadParameter:
    """The error for a job id that is neither in the plan nor in the journal."""
    from backupplan.plan.messages import suggest

    hint = suggest(job, known, label="known jobs") or "no job has been planned or run yet"
    return click.BadParameter(f"no job {job!r} in the plan or the journal; {hint}", param_hint="JOB")


def changes_text(changes: dict[str, int] | None) -> str:
    """`+3 ~1 -2` (added, changed, deleted), or `-` when the run did not count them."""
    if not changes:
        return "-"
    return f"+{changes['added']} ~{changes['changed']} -{changes['deleted']}"


def history_command(plan_path: str, job: str, *, state_dir: str | None, limit: int, as_json: bool) -> int:
    """Print the job's runs (running one first, then newest first); raise BadParameter for an
    unknown job id."""
    from backupplan.status.document import run_summary

    location = locate_state(plan_path, state_dir, light=True)
    with location.open_journal() as journal:
        state = journal.state
        known = set(state.jobs) | location.jobs
        if job not in known:
            raise unknown_job(job, known)
        found = state.jobs.get(job)
        runs = []
        if found is not None:
            if found.current is not None:
                runs.append(found.current)
            runs.extend(islice(found.history, max(limit - len(runs), 0)))
        entries = [run_summary(summary) for summary in runs[:limit]]
    if as_json:
        document = {"format": HISTORY_FORMAT, "job": job, "runs": entries}
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not entries:
        click.echo(f"{job} has not run yet.")
        return 0
    zone = location.timezone
    rows = [
        [
            entry["run"],
            entry["status"].replace("_", " "),
            local_time(entry["started_at"], zone),
            "-" if entry["duration"] is None else format_duration(entry["duration"]),
            format_size(entry["bytes"]),
            str(entry["files"]),
            changes_text(entry["changes"]),
            "-" if entry["exit_code"] is None else str(entry["exit_code"]),
            str(entry["attempts"]),
            entry["reason"] or "",
        ]
        for entry in entries
    ]
    header = [
        "RUN",
        "STATUS",
        "STARTED",
        "DURATION",
        "BYTES",
        "FILES",
        "CHANGES",
        "EXIT",
        "ATTEMPTS",
        "REASON",
    ]
    click.echo("\n".join(table(header, rows)))
    click.echo(
        f"\n{len(entries)} run{'s' if len(entries) != 1 else ''} of {job}, newest first. Times in {zone}."
    )
    return 0
