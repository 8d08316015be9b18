"""What doctor finds: checks (one line each), gathered into a report with a versioned JSON form.

A check has a status: `ok` (works), `info` (a fact worth knowing, nothing to do), `warn` (works
now, but needs attention) or `fail` (backups will not work, or cannot be trusted, until fixed).
Warnings and failures are problems: the report's exit code is 1 when there is any, else 0.
docs/doctor-json.md is the contract of `to_json`.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal, NamedTuple

Status = Literal["ok", "info", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("ok", "info", "warn", "fail")
PROBLEMS: frozenset[str] = frozenset({"warn", "fail"})
DOCTOR_FORMAT = 1
SECTIONS = {
    "tools": "Tools",
    "plan": "Plan",
    "state": "State dir",
    "locations": "Sources and destinations",
    "site": "Site",
    "system": "System",
}
PROBE_TIMEOUT = 5.0  # seconds a remote probe may take; they run at the same time


@dataclass(frozen=True)
class Check:
    """One finding: `section` and `name` identify it (stable ids for scripts), `message` says what
    was found, `hint` what to do about it, `facts` the raw values behind the message."""

    section: str
    name: str
    status: Status
    message: str
    hint: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def problem(self) -> bool:
        return self.status in PROBLEMS

    def to_json(self, clean: Callable[[str], str]) -> dict[str, Any]:
        """The check as docs/doctor-json.md describes it; every text goes through `clean`."""
        return {
            "section": self.section,
            "name": self.name,
            "status": self.status,
            "message": clean(self.message),
            "hint": None if self.hint is None else clean(self.hint),
            "facts": _clean_facts(self.facts, clean),
        }


def _clean_facts(value: Any, clean: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, Mapping):
        return {str(key): _clean_facts(item, clean) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_facts(item, clean) for item in value]
    return value


@dataclass(frozen=True)
class Report:
    """Every check of one doctor run, in section order."""

    generated_at: str
    plan: str
    checks: list[Check]

    def counts(self) -> dict[str, int]:
        return {status: sum(1 for check in self.checks if check.status == status) for status in STATUSES}

    @property
    def problems(self) -> list[Check]:
        return [check for check in self.checks if check.problem]

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def to_json(self, clean: Callable[[str], str]) -> dict[str, Any]:
        """The report as docs/doctor-json.md describes it; every text goes through `clean`."""
        return {
            "format": DOCTOR_FORMAT,
            "generated_at": self.generated_at,
            "plan": clean(self.plan),
            "healthy": not self.problems,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "checks": [check.to_json(clean) for check in self.checks],
        }


def when(stamp: str | None, zone: tzinfo, now: datetime | None = None) -> str:
    """Given an RFC 3339 (or journal) UTC timestamp, return `2026-11-29 02:00 CET` in `zone`, with
    `(15 min ago)` when `now` is given; `never` for None."""
    if stamp is None:
        return "never"
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    text = moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z").strip()
    if now is not None:
        from backupplan.site.text import format_relative

        text += f" ({format_relative(stamp, now)})"
    return text


class Space(NamedTuple):
    """Bytes on a file system: all of it, and what this user may still write."""

    total: int
    free: int


def disk_space(path: Path) -> Space:
    """Given a folder, return the size and free space of its file system; raise OSError."""
    stats = os.statvfs(path)
    return Space(stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize)


def system_facts() -> dict[str, str]:
    """backupplan's and Python's versions and the operating system, as shown by doctor."""
    from backupplan import __version__

    pretty = ""
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {
        "backupplan": __version__,
        "python": platform.python_version(),
        "python_path": sys.executable,
        "os": pretty or f"{platform.system()} {platform.release()}",
        "kernel": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }


@dataclass(frozen=True)
class Context:
    """What the checks read from the machine besides the plan and the state dir: the clock, disk
    space and system facts (injected by tests), and how long a remote probe may take."""

    now: datetime
    probe_timeout: float = PROBE_TIMEOUT
    space: Callable[[Path], Space] = disk_space
    system: Callable[[], dict[str, str]] = system_facts
