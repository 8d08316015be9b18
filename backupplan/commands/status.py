"""`backupplan status [--json]`: every job with its status, last run, last success and next run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from backupplan.units import format_duration, format_size

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.plan.load import LoadedPlan


@dataclass(frozen=True)
class StateLocation:
    """Where the state is, and the plan it came from (None with --state-dir, or when only the
    plan's facts were read: `light`)."""

    plan: LoadedPlan | None
    state_dir: Path
    keep_runs: int
    jobs: frozenset[str] = frozenset()  # the plan's job ids
    timezone: tzinfo = UTC

    def open_journal(self) -> Journal:
        """Open the journal; when it cannot be written, read it and list an `unwritable` problem."""
        from backupplan.journal import Journal

        return Journal.open_or_read_only(self.state_dir, keep_runs=self.keep_runs)


def locate_state(
    plan_path: str, state_dir: str | None, *, without_env: bool = False, light: bool = False
) -> StateLocation:
    """Given -p/--plan and --state-dir, return the StateLocation; raise PlanError for a bad plan.

    With --state-dir the plan is not read at all: the journal alone is shown. `without_env`:
    the plan's `${VAR}` values are not needed (shell completion). `light`: only the state dir,
    time zone and job ids are needed (`plan` stays None), read from the plan cache when it holds
    the plan, without importing the model (docs/performance.md).
    """
    from backupplan.journal import DEFAULT_KEEP_RUNS

    if state_dir is not None:
        return StateLocation(None, Path(state_dir).expanduser().absolute(), DEFAULT_KEEP_RUNS)
    if light and not without_env:
        from backupplan.plan.load import load_facts

        facts = load_facts(plan_path)
        return StateLocation(None, facts.state_dir, facts.keep_runs, facts.jobs, facts.timezone)
    from backupplan.plan.load import load_plan

    plan = load_plan(plan_path, without_env=without_env)
    facts = plan.facts()
    return StateLocation(plan, facts.state_dir, facts.keep_runs, facts.jobs, facts.timezone)


def status_command(
    plan_path: str, *, state_dir: str | None, as_json: bool, now: datetime | None = None
) -> int:
    """Print the status table (or the JSON document); return 1 while the state dir cannot be
    written (read-only, full, not ours: the table is still printed), else 0."""
    moment = now or datetime.now(UTC)
    if state_dir is None:  # the plan's status: the one kept since the journal last changed, if any
        from backupplan.status.kept import status_of

        def from_plan() -> tuple[dict[str, Any], LoadedPlan]:
            location = locate_state(plan_path, None)
            assert location.plan is not None
            return built_status(location, moment), location.plan

        document, facts = status_of(plan_path, moment, from_plan)
        heading, zone = facts.acting_as, facts.timezone
    else:  # the journal alone
        document = built_status(locate_state(plan_path, state_dir), moment)
        heading, zone = None, UTC
    if as_json:
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        if heading:
            click.echo(heading)
        click.echo(render_status(document, zone))
    unwritable = any(problem["kind"] == "unwritable" for problem in document["journal"]["problems"])
    return 1 if unwritable or document["state_dir"]["problem"] else 0


def built_status(location: StateLocation, now: datetime) -> dict[str, Any]:
    """The status document built from the journal (read, or opened read-only when it cannot be
    written) and the plan of `location`, with this machine's facts."""
    from backupplan.status.document import build_status
    from backupplan.status.facts import machine_facts

    with location.open_journal() as journal:
        return build_status(
            journal.state,
            journal.health,
            plan=location.plan,
            now=now,
            progress_dir=location.state_dir / "progress",
            **machine_facts(location.plan, location.state_dir),
        )


def local_time(stamp: str | None, zone: tzinfo) -> str:
    """Given an RFC 3339 UTC stamp, return `2026-11-28 03:00` in `zone`, or `-`."""
    if stamp is None:
        return "-"
    return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart, no trailing spaces."""
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _status_text(job: dict[str, Any]) -> str:
    text = str(job["status"]).replace("_", " ")
    if job["paused"] and job.get("paused_by"):
        text += f" (by {job['paused_by']})"
    if job["overdue"]:
        text += ", overdue"
    if not job["enabled"] and job["status"] != "removed":
        text += " (disabled)"
    return text


def _last_run_text(job: dict[str, Any], zone: tzinfo) -> str:
    run = job["last_run"]
    if run is None:
        return "-"
    text = local_time(run["started_at"], zone)
    if run["status"] == "running":
        return text + " (running)"
    if run["status"] != job["status"]:
        text += f" {run['status'].replace('_', ' ')}"
    if run["duration"] is not None:
        text += f" ({format_duration(run['duration'])})"
    return text


def _next_run_text(job: dict[str, Any], zone: tzinfo) -> str:
    if job["next_run"] is not None:
        return local_time(job["next_run"], zone)
    if job["status"] == "removed":
        return "-"
    if job["schedule"] is None:
        return "manual"
    return "paused" if job["paused"] else "disabled" if not job["enabled"] else "-"


def render_status(document: dict[str, Any], zone: tzinfo) -> str:
    """Given the status document, return the human table with its summary and journal problems."""
    jobs = document["jobs"]
    lines: list[str] = []
    if jobs:
        rows = [
            [
                job["id"],
                _status_text(job),
                _last_run_text(job, zone),
                local_time(job["last_success"], zone) if job["last_success"] else "never",
                _next_run_text(job, zone),
                format_size(job["bytes"]),
            ]
            for job in jobs
        ]
        lines += table(["JOB", "STATUS", "LAST RUN", "LAST SUCCESS", "NEXT RUN", "BYTES"], rows)
        lines.append("")
    from backupplan.status.document import STATUS_NAMES

    summary = document["summary"]
    counted = [f"{summary[name]} {name.replace('_', ' ')}" for name in STATUS_NAMES if summary[name]]
    if summary["overdue"]:
        counted.append(f"{summary['overdue']} overdue")
    plural = "s" if summary["jobs"] != 1 else ""
    lines.append(
        f"{summary['jobs']} job{plural}"
        + (": " + ", ".join(counted) if counted else "")
        + f". Times in {zone}."
    )
    pending = [item for item in document["interruptions"] if item["handled"] == "pending"]
    for item in pending:
        lines.append(
            f"Interrupted by a crash: {item['job']} (run {item['run']}); "
            "`backupplan recover` resumes or dismisses it."
        )
    journal = document["journal"]
    health = "healthy" if journal["healthy"] else "NOT HEALTHY"
    lines.append(f"Journal: {journal['records']} records, {health}.")
    for problem in journal["problems"]:
        text = f"  {problem['kind'].replace('_', ' ')}: {problem['message']}"
        if problem["quarantine"]:
            text += f" (copy kept at {problem['quarantine']})"
        lines.append(text)
    if not journal["healthy"]:
        lines.append(
            "  Backups go on. Once the copy is looked at, `backupplan journal repair` drops the "
            "damaged lines (an upgrade is the fix for records of a newer format)."
        )
    space = document.get("state_dir") or {}
    if space.get("problem"):
        lines.append(f"State dir {space['path']} {space['problem']}.")
    publish = document.get("publish")
    if publish:
        lines.append(publish_line(publish, zone))
    return "\n".join(lines)


def publish_line(publish: dict[str, Any], zone: tzinfo) -> str:
    """One line on where this host publishes its status and how the last upload went."""
    if publish["error"]:
        since = local_time(publish["failing_since"], zone)
        return f"Publishing to {publish['to']} FAILS since {since}: {publish['error']}"
    if publish["last_ok"]:
        return f"Publishing to {publish['to']}: last upload {local_time(publish['last_ok'], zone)}."
    return f"Publishing to {publish['to']}: nothing uploaded yet."
