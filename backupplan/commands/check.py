"""`backupplan check`: a monitoring plugin (Nagios, Icinga, Naemon, Checkmk, NRPE, Zabbix).

It prints one status line, `BACKUPPLAN OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata`, then the
long output, and returns the state as the exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Every
way it can fail to judge (a usage error, an invalid plan, an unreadable status.json) is UNKNOWN,
never 1 or 2, which a monitor would read as WARNING or CRITICAL. See docs/monitoring.md.

With `--status FILE|URL` it judges a published status.json and never loads the plan's models.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from backupplan.errors import BackupplanError, PlanError
from backupplan.monitor.verdict import State, Verdict, one_line, unknown
from backupplan.secrets import mask

if TYPE_CHECKING:
    from backupplan.monitor.thresholds import Thresholds
    from backupplan.plan.load import LoadedPlan


def check_command(
    plan_path: str,
    *,
    status_source: str | None = None,
    jobs: Sequence[str] = (),
    late_critical: str = "1d",
    space_warning: str = "10%",
    space_critical: str = "5%",
    max_age: str | None = None,
    timeout: str = "10s",
    now: datetime | None = None,
) -> int:
    """Judge the plan's status (or the status.json at `status_source`) as of `now`; print the
    plugin output; return its state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    from backupplan.monitor.thresholds import parse_thresholds, parse_timeout

    try:
        thresholds = parse_thresholds(
            late_critical=late_critical,
            space_warning=space_warning,
            space_critical=space_critical,
            max_age=max_age,
        )
        seconds = parse_timeout(timeout)
    except ValueError as error:
        return usage_error(str(error))
    moment = now or current_time()
    try:
        verdict = _judged(plan_path, status_source, jobs, thresholds, seconds, moment)
    except PlanError as invalid:
        verdict = _invalid_plan(invalid)
    except BackupplanError as error:
        verdict = unknown(str(error))
    except Exception:
        # A bug: the monitor still gets a status line; run_cli writes the crash report, exits 3.
        click.echo("BACKUPPLAN UNKNOWN - internal error in backupplan check (see its crash report on stderr)")
        raise
    return show(verdict)


def current_time() -> datetime:
    """The reader's clock, which the judge compares deadlines and `expected_by` with."""
    return datetime.now(UTC)


def _judged(
    plan_path: str,
    status_source: str | None,
    jobs: Sequence[str],
    thresholds: Thresholds,
    timeout: float,
    now: datetime,
) -> Verdict:
    from backupplan.monitor.judge import judge

    if status_source is not None:
        from backupplan.monitor.source import read_status

        document = read_status(status_source, timeout=timeout)
    else:
        from backupplan.commands.status import locate_state
        from backupplan.monitor.local import local_status
        from backupplan.status.kept import status_of

        def from_plan() -> tuple[dict[str, Any], LoadedPlan]:
            location = locate_state(plan_path, None)
            assert location.plan is not None
            plan, state_dir = location.plan, location.state_dir
            return local_status(plan, state_dir, keep_runs=location.keep_runs, now=now), plan

        document, _ = status_of(plan_path, now, from_plan)  # kept since the journal last changed
    return judge(document, now, thresholds, jobs)


def _invalid_plan(invalid: PlanError) -> Verdict:
    problems = [problem.render() for problem in invalid.problems]
    summary = "invalid plan: " + (problems[0] if problems else "?")
    if len(problems) > 1:
        summary += f" (and {len(problems) - 1} more problems: backupplan validate)"
    return unknown(summary, tuple(problems[1:]))


def show(verdict: Verdict) -> int:
    """Print the plugin output, secrets masked; return the exit code."""
    for line in verdict.lines():
        click.echo(mask(line))
    return verdict.exit_code


def usage_error(message: str) -> int:
    """A usage error of `check` (a bad flag or value) is UNKNOWN, exit 3: click's 2 would read as
    CRITICAL to a monitor. Print it as the status line; return 3."""
    click.echo(mask(f"BACKUPPLAN UNKNOWN - usage: {one_line(message, 300)} (backupplan check --help)"))
    return int(State.UNKNOWN)
