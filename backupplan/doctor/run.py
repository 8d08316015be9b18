"""Running every check, in the order they depend on each other, then sorting them by section."""

from __future__ import annotations

from backupplan.doctor.dumps import dump_checks
from backupplan.doctor.locations import location_checks
from backupplan.doctor.model import SECTIONS, Check, Context, Report
from backupplan.doctor.plan import job_checks, load_checks
from backupplan.doctor.site import publish_checks, site_checks
from backupplan.doctor.state import (
    folder_checks,
    interruption_checks,
    journal_checks,
    lock_checks,
)
from backupplan.doctor.system import system_checks
from backupplan.doctor.tools import tool_checks
from backupplan.errors import BackupplanError


def diagnose(plan_path: str, context: Context) -> Report:
    """Given the plan's path and the context, run every check and return the report. Nothing is
    written: the journal is read read-only, folders are looked at with access(2), remote places
    are only probed."""
    from backupplan.journal import Journal
    from backupplan.status.document import build_status, stamp

    loaded, checks = load_checks(plan_path)
    checks += tool_checks(loaded)
    if loaded is None:
        checks.append(
            Check(
                "state",
                "not_checked",
                "info",
                "the state dir, sources, destinations and site are checked once the plan is valid",
            )
        )
    else:
        state_dir = loaded.state_dir
        checks += folder_checks(state_dir, context)
        try:
            journal = Journal.open(
                state_dir, read_only=True, keep_runs=loaded.plan.settings.log_retention.runs
            )
        except (BackupplanError, OSError) as error:
            checks.append(Check("state", "journal", "fail", f"the journal cannot be read: {error}"))
        else:
            with journal:
                status = build_status(
                    journal.state,
                    journal.health,
                    plan=loaded,
                    now=context.now,
                    progress_dir=state_dir / "progress",
                )
                checks += job_checks(loaded, status)
                checks += journal_checks(journal, loaded.timezone)
                checks += lock_checks(loaded, journal)
                checks += interruption_checks(journal, loaded.timezone)
        checks += location_checks(loaded, context)
        checks += dump_checks(loaded, context)
        checks += site_checks(loaded.site_dir, loaded.timezone, context.now)
        checks += publish_checks(loaded, loaded.timezone)
    checks += system_checks(loaded, context)
    order = {section: index for index, section in enumerate(SECTIONS)}
    checks.sort(key=lambda check: order.get(check.section, len(order)))
    shown_plan = str(loaded.path) if loaded is not None else plan_path
    return Report(stamp(context.now), shown_plan, checks)
