"""System information: backupplan's and Python's versions, the operating system, and the timezone
schedules are computed in."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from backupplan.doctor.model import Check, Context

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan


def zone_name(zone: tzinfo, at: datetime) -> str:
    """`Europe/Berlin (UTC+01:00 now)`: the zone's IANA key when it has one, and its offset."""
    key = getattr(zone, "key", None) or str(zone)
    offset = at.astimezone(zone).strftime("%z")
    return f"{key} (UTC{offset[:3]}:{offset[3:]} now)" if offset else key


def system_checks(loaded: LoadedPlan | None, context: Context) -> list[Check]:
    """Given the plan (or None) and the context, return the system information lines."""
    facts = context.system()
    checks = [
        Check("system", "backupplan", "info", f"backupplan {facts['backupplan']}", None,
              {"version": facts["backupplan"]}),
        Check("system", "python", "info", f"Python {facts['python']} ({facts['python_path']})", None,
              {"version": facts["python"], "path": facts["python_path"]}),
        Check("system", "os", "info", f"{facts['os']}; {facts['kernel']}", None,
              {"os": facts["os"], "kernel": facts["kernel"]}),
    ]  # fmt: skip
    if loaded is None:
        checks.append(
            Check("system", "timezone", "info", "timezone of schedules unknown: the plan is not valid")
        )
        return checks
    setting = loaded.plan.settings.timezone
    shown = zone_name(loaded.timezone, context.now)
    text = f"schedules run in {shown}" + (" (settings.timezone: local)" if setting == "local" else "")
    checks.append(Check("system", "timezone", "info", text, None, {"setting": setting, "zone": shown}))
    return checks
