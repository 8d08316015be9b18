"""Tools: rsync, rclone (and ssh when a job uses it): found, version, new enough for the plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from backupplan.doctor.model import Check, Status
from backupplan.status.tools import ToolReport, check_tools, installed_version

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan


def tool_checks(
    loaded: LoadedPlan | None, *, version_of: Callable[[str, str], str | None] = installed_version
) -> list[Check]:
    """Given the plan (None when it could not be loaded), return one check per tool: `fail` for a
    tool a job needs that is missing, unusable or too old; `info` for one no job uses."""
    return [
        tool_check(report, plan_known=loaded is not None)
        for report in check_tools(loaded, version_of=version_of)
    ]


def tool_check(report: ToolReport, *, plan_known: bool) -> Check:
    """Given one tool's report, return its check."""
    facts = {
        "path": report.path,
        "version": report.version,
        "minimum": report.minimum.minimum if report.minimum else None,
        "needed_by": list(report.jobs),
    }
    if report.problem is not None:
        status: Status = "fail" if report.needed else "info"
        return Check(
            "tools", report.name, status, report.problem, report.hint if report.needed else None, facts
        )
    found = f"{report.name} {report.version} at {report.path}"
    if not report.needed:
        unused = "no job uses it" if plan_known else "not checked against the plan"
        return Check("tools", report.name, "info", f"{found} ({unused})", None, facts)
    need = report.minimum
    if need is not None:
        found += f"; {need.minimum} or later needed, for {need.feature}"
    else:
        found += f"; needed for {report.needs[0].feature}"
    return Check("tools", report.name, "ok", found, None, facts)
