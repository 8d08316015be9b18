"""The plan: valid or not (every problem located, as `validate` shows them), and each job's
schedule, next run and last result."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from backupplan.doctor.model import Check, Status, when
from backupplan.errors import PlanError

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan


def load_checks(plan_path: str) -> tuple[LoadedPlan | None, list[Check]]:
    """Given the plan's path, return the loaded plan and a check saying it is valid, or None and one
    `fail` per problem (file:line:col: path: message, with its hint)."""
    from backupplan.plan.load import load_plan

    try:
        loaded = load_plan(plan_path)
    except PlanError as invalid:
        checks = []
        for index, problem in enumerate(invalid.problems, 1):
            located = problem.file
            if problem.line is not None:
                located += f":{problem.line}:{problem.column or 1}"
            text = f"{located}: " + (f"{problem.path}: " if problem.path else "") + problem.message
            facts = {
                "file": problem.file,
                "line": problem.line,
                "column": problem.column,
                "path": problem.path,
            }
            checks.append(Check("plan", f"problem.{index}", "fail", text, problem.hint or None, facts))
        return None, checks
    jobs = loaded.jobs
    scheduled = sum(1 for job in jobs.values() if job.schedule and job.enabled)
    disabled = sum(1 for job in jobs.values() if not job.enabled)
    parts = [f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}"]
    if jobs:
        parts.append(f"{scheduled} scheduled, {len(jobs) - scheduled - disabled} manual")
    if disabled:
        parts.append(f"{disabled} disabled")
    facts = {"path": str(loaded.path), "digest": loaded.digest, "jobs": len(jobs), "scheduled": scheduled}
    check = Check("plan", "valid", "ok", f"{loaded.path} is valid: {'; '.join(parts)}", None, facts)
    return loaded, [check]


def job_checks(loaded: LoadedPlan, status: dict[str, Any]) -> list[Check]:
    """Given the plan and the status document (docs/status-json.md), return one check per job of
    the plan: its schedule, next run and last result; a `warn` when it is paused, its last run
    failed or it is overdue."""
    entries = {entry["id"]: entry for entry in status["jobs"]}
    return [job_check(job_id, entries[job_id], loaded.timezone) for job_id in sorted(loaded.jobs)]


def job_check(job_id: str, entry: dict[str, Any], zone: tzinfo) -> Check:
    """Given one job's JobStatus, return its check."""
    last = entry["last_run"]
    facts = {
        "status": entry["status"],
        "schedule": entry["schedule"],
        "next_run": entry["next_run"],
        "last_run": last["run"] if last else None,
        "last_success": entry["last_success"],
        "overdue": entry["overdue"],
    }
    if not entry["enabled"]:
        return Check(
            "plan", f"job.{job_id}", "info", f"{job_id}: disabled: never run, not checked", None, facts
        )
    when_text = f"schedule {entry['schedule']!r}, next run {when(entry['next_run'], zone)}"
    schedule = when_text if entry["schedule"] else "manual only"
    last_text = "never run"
    if last is not None:
        last_text = f"last run {last['status'].replace('_', ' ')} {when(last['started_at'], zone)}"
    text = f"{job_id}: {entry['engine']}, {schedule}; {last_text}"
    if entry["paused"]:
        return Check(
            "plan",
            f"job.{job_id}",
            "warn",
            f"{job_id}: paused: neither the schedule nor `run` starts it",
            f"`backupplan resume {job_id}` lets it run again",
            facts,
        )
    overdue = f"; overdue: last success {when(entry['last_success'], zone)}" if entry["overdue"] else ""
    if entry["status"] == "failed" and last is not None:
        reason = f": {last['reason']}" if last["reason"] else ""
        ended = f"{last['status'].replace('_', ' ')} {when(last['started_at'], zone)}"
        return Check(
            "plan",
            f"job.{job_id}",
            "warn",
            f"{job_id}: last run {ended}{reason}{overdue}",
            f"`backupplan logs {job_id} --last` shows its log",
            facts,
        )
    if overdue:
        return Check(
            "plan",
            f"job.{job_id}",
            "warn",
            f"{text}{overdue}",
            f"is it running? `backupplan history {job_id}` lists its runs",
            facts,
        )
    status: Status = "ok" if entry["status"] in ("succeeded", "warning", "running") else "info"
    return Check("plan", f"job.{job_id}", status, text, None, facts)
