"""System information: backupplan's and Python's versions, the operating system, and the timezone
schedules are computed in."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from backupplan.doctor.model import Check, Context

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan


def zone_name(zone: tzinfo, at: datetime) -> str:
    """`Europe/Berlin (UTC+01:00 now)`: the zone's IANA key when it has one, and its offset."""
    key = getattr(zone, "key", None) or str(zone)
    offset = at.astimezone(zone).strftime("%z")
    return f"{key} (UTC{offset[:3]}:{offset[3:]} now)" if offset else key


def _info(name: str, message: str, facts: dict[str, Any] | None = None) -> Check:
    return Check("system", name, "info", message, None, facts or {})


def system_checks(loaded: LoadedPlan | None, context: Context) -> list[Check]:
    """Given the plan (or None) and the context, return the system information lines."""
    facts = context.system()
    checks = [
        _info("backupplan", f"backupplan {facts['backupplan']}", {"version": facts["backupplan"]}),
        _info(
            "python",
            f"Python {facts['python']} ({facts['python_path']})",
            {"version": facts["python"], "path": facts["python_path"]},
        ),
        _info("os", f"{facts['os']}; {facts['kernel']}", {"os": facts["os"], "kernel": facts["kernel"]}),
    ]
    if loaded is None:
        return [*checks, _info("timezone", "timezone of schedules unknown: the plan is not valid")]
    setting = loaded.plan.settings.timezone
    shown = zone_name(loaded.timezone, context.now)
    text = f"schedules run in {shown}" + (" (settings.timezone: local)" if setting == "local" else "")
    return [*checks, _info("timezone", text, {"setting": setting, "zone": shown})]
