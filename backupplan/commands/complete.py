"""What the shell completes from the plan and the state dir: job ids and run ids.

Everything here only reads. The plan is loaded as `validate --no-env` loads it, because the shell
that completes rarely holds the secrets the plan refers to; the journal is opened read-only (as
`logs --follow` opens it), so a completion never creates, repairs or records anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backupplan.commands.status import StateLocation, local_time, locate_state

if TYPE_CHECKING:
    from backupplan.journal import Journal

# (value, help): what the shell inserts, and the line zsh and fish show beside it
Candidate = tuple[str, str]


def job_ids(plan_path: str, *, state_dir: str | None = None) -> list[Candidate]:
    """Given -p/--plan, return the ids of the jobs this machine runs, sorted, each with its
    description; given --state-dir, the ids of the jobs in that journal. Raise PlanError for an
    invalid plan."""
    if state_dir is not None:
        with _read_only_journal(locate_state(plan_path, state_dir, light=True)) as journal:
            return [(job, "") for job in sorted(journal.state.jobs)]
    from backupplan.plan.load import load_plan

    plan = load_plan(plan_path, without_env=True)
    return [(job, " ".join((plan.jobs[job].description or "").split())) for job in sorted(plan.jobs)]


def run_ids(plan_path: str, job: str | None, *, state_dir: str | None = None) -> list[Candidate]:
    """Given -p/--plan (or --state-dir) and a job id, return the ids of the job's runs in the
    journal (of every job's runs without one), newest first, each with its status and start (and
    job). Raise PlanError for an invalid plan."""
    from backupplan.status.document import run_summary

    location = locate_state(plan_path, state_dir, without_env=True)
    with _read_only_journal(location) as journal:
        chosen = [state for state in journal.state.jobs.values() if job is None or state.id == job]
        runs = [run for state in chosen for run in (state.current, *state.history) if run is not None]
        # newest first by start, as `history` lists them: each job's runs are in that order already,
        # and the sort is stable, so runs started in the same second keep the journal's order
        entries = sorted(
            (run_summary(run) for run in runs), key=lambda entry: entry["started_at"], reverse=True
        )
    candidates = []
    for entry in entries:
        # `photos succeeded 2026-11-28 03:00`: no comma, as click's fish script cuts the help at one.
        words = [entry["status"].replace("_", " "), local_time(entry["started_at"], location.timezone)]
        candidates.append((entry["run"], " ".join([entry["job"], *words] if job is None else words)))
    return candidates


def _read_only_journal(location: StateLocation) -> Journal:
    from backupplan.journal import Journal

    return Journal.open(location.state_dir, read_only=True, keep_runs=location.keep_runs)
