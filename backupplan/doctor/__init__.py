"""`backupplan doctor`: will my backups work? Tools, plan, state dir, sources and destinations, site
and system, each finding one Check; see docs/doctor.md, and docs/doctor-json.md for `--json`.

Public API:

- `diagnose(plan_path, context) -> Report`: run every check (nothing is changed anywhere);
- `Check`, `Report`, `Context` (the clock, disk space and system facts, injectable by tests).

The screen is drawn by `backupplan.commands.doctor`.
"""

from __future__ import annotations

from backupplan.doctor.model import DOCTOR_FORMAT, SECTIONS, Check, Context, Report, Space, Status
from backupplan.doctor.run import diagnose

__all__ = [
    "DOCTOR_FORMAT",
    "SECTIONS",
    "Check",
    "Context",
    "Report",
    "Space",
    "Status",
    "diagnose",
]
