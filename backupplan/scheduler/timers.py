"""Schedules for the operating system's scheduler: systemd units and crontab lines.

For users who prefer systemd timers or cron to `backupplan daemon`: the OS starts
`backupplan apply` at every slot of every job; `apply` runs whatever is due (and records missed
slots), so one timer (or one crontab line per distinct schedule) is enough.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from backupplan.plan.load import LoadedPlan
from backupplan.plan.schedule import ALIASES

_DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class ConversionError(ValueError):
    """A schedule the OS scheduler cannot express exactly."""


@dataclass(frozen=True)
class Slot:
    """One distinct schedule, with the jobs that use it."""

    schedule: str
    jobs: tuple[str, ...]


def distinct_schedules(loaded: LoadedPlan) -> list[Slot]:
    """The plan's distinct schedules (enabled jobs only), in first-seen order."""
    seen: dict[str, list[str]] = {}
    for job_id, job in loaded.jobs.items():
        if job.enabled and job.schedule:
            seen.setdefault(job.schedule, []).append(job_id)
    return [Slot(schedule, tuple(jobs)) for schedule, jobs in seen.items()]


def to_cron(schedule: str) -> str:
    """Given a plan schedule, return a 5-field crontab expression; raise ConversionError."""
    text = schedule.strip()
    if text.lower() in ALIASES:
        return ALIASES[text.lower()]
    if text.lower().startswith("every"):
        from backupplan.units import parse_duration

        seconds = int(parse_duration(text[5:].strip()))
        if seconds % 60 == 0 and 60 <= seconds < 3600 and 3600 % seconds == 0:
            return f"*/{seconds // 60} * * * *"
        if seconds % 3600 == 0 and 3600 <= seconds < 86400 and 86400 % seconds == 0:
            return f"0 */{seconds // 3600} * * *" if seconds > 3600 else "0 * * * *"
        if seconds == 86400:
            return "0 0 * * *"
        raise ConversionError(f"{text!r} does not divide an hour or a day evenly")
    return text


def to_on_calendar(schedule: str) -> str:
    """Given a plan schedule, return a systemd OnCalendar= value; raise ConversionError."""
    minute, hour, day, month, weekday = to_cron(schedule).split()
    if day != "*" and weekday != "*":
        raise ConversionError("cron runs when either day-of-month or day-of-week matches; systemd needs both")
    days = "" if weekday == "*" else _weekdays(weekday) + " "
    return f"{days}*-{_field(month)}-{_field(day)} {_field(hour)}:{_field(minute)}:00"


def _field(value: str) -> str:
    if value == "*":
        return "*"
    if value.startswith("*/"):
        return f"00/{value[2:]}"
    parts = []
    for part in value.split(","):
        if "/" in part:
            range_part, step = part.split("/")
            start = range_part.split("-")[0] if range_part != "*" else "0"
            parts.append(f"{start}/{step}")
        elif "-" in part:
            low, high = part.split("-")
            parts.append(f"{low}..{high}")
        else:
            parts.append(part)
    return ",".join(parts)


def _weekdays(value: str) -> str:
    names = []
    for part in value.split(","):
        if "-" in part:
            low, high = part.split("-")
            names.append(f"{_day(low)}..{_day(high)}")
        else:
            names.append(_day(part))
    return ",".join(names)


def _day(value: str) -> str:
    if value.isdigit():
        return _DAY_NAMES[int(value)]
    return value[:3].capitalize()


def systemd_units(
    loaded: LoadedPlan, executable: str, *, daemon: bool, host: str | None = None
) -> dict[str, str]:
    """Return unit file names and contents: a daemon service, or a oneshot `apply` service + timer.
    `host`: the machine of a fleet plan they are for (`Environment=BACKUPPLAN_HOST=`)."""
    plan = shlex.quote(str(loaded.path))
    workdir = str(loaded.base_dir)
    environment = "" if host is None else f"Environment=BACKUPPLAN_HOST={host}\n"
    if daemon:
        return {
            "backupplan.service": (
                "[Unit]\n"
                "Description=backupplan daemon: scheduled backups\n"
                "Wants=network-online.target\nAfter=network-online.target\n\n"
                "[Service]\n"
                "Type=simple\n"
                f"WorkingDirectory={workdir}\n{environment}"
                f"ExecStart={executable} daemon --plan {plan}\n"
                "ExecReload=/bin/kill -HUP $MAINPID\n"
                "Restart=on-failure\nRestartSec=30s\n"
                "# Put secrets used as ${VAR} in the plan into a 0600 file:\n"
                "# EnvironmentFile=/etc/backupplan/secrets.env\n"
                "TimeoutStopSec=60s\nKillMode=mixed\n\n"
                "[Install]\nWantedBy=multi-user.target\n"
            )
        }
    lines = []
    for slot in distinct_schedules(loaded):
        try:
            calendar = to_on_calendar(slot.schedule)
            lines += [f"# {slot.schedule}: {', '.join(slot.jobs)}", f"OnCalendar={calendar}"]
        except ConversionError as error:
            lines.append(
                f"# {slot.schedule} ({', '.join(slot.jobs)}) cannot be written as OnCalendar: {error};"
            )
            lines.append("# run `backupplan daemon` for this job instead, or change its schedule.")
    timezone = loaded.plan.settings.timezone
    note = "" if timezone == "local" else f"# Times are in {timezone}: set the machine's timezone to match.\n"
    return {
        "backupplan.service": (
            "[Unit]\nDescription=backupplan apply: run the backups that are due\n"
            "Wants=network-online.target\nAfter=network-online.target\n\n"
            "[Service]\nType=oneshot\n"
            f"WorkingDirectory={workdir}\n{environment}"
            f"ExecStart={executable} apply --plan {plan}\n"
            "# EnvironmentFile=/etc/backupplan/secrets.env\n"
        ),
        "backupplan.timer": (
            "[Unit]\nDescription=backupplan: start `apply` at every job's slot\n\n"
            f"[Timer]\n{note}" + "\n".join(lines) + "\nPersistent=true\n"
            # systemd starts a timer up to a minute late by default; apply runs a slot as
            # scheduled (not as missed) when it starts within two minutes of it
            "AccuracySec=1s\n\n[Install]\nWantedBy=timers.target\n"
        ),
    }


def crontab_lines(
    loaded: LoadedPlan, executable: str, log: Path | None = None, *, host: str | None = None
) -> list[str]:
    """Return crontab lines that run `apply` at every distinct schedule of the plan (`host`: of
    this machine of a fleet plan, named in the lines' BACKUPPLAN_HOST)."""
    target = f">> {shlex.quote(str(log))} 2>&1" if log else ">/dev/null 2>&1"
    lines = [
        f"# backupplan: {loaded.path}",
        "# `apply` runs every job that is due; the journal records each run.",
    ]
    if loaded.plan.settings.timezone != "local":
        lines.append(
            "# the times below are in the plan's timezone (CRON_TZ works with cronie and busybox cron;"
        )
        lines.append("# with another cron, set the machine's timezone to match)")
        lines.append(f"CRON_TZ={loaded.plan.settings.timezone}")
    if host is not None:
        lines.append(f"BACKUPPLAN_HOST={host}")
    command = (
        f"cd {shlex.quote(str(loaded.base_dir))} && {executable} apply --plan {shlex.quote(str(loaded.path))}"
    )
    command = command.replace("%", "\\%")  # cron turns a bare % into a newline
    for slot in distinct_schedules(loaded):
        try:
            lines.append(f"{to_cron(slot.schedule)} {command} {target}  # {', '.join(slot.jobs)}")
        except ConversionError as error:
            lines.append(
                f"# {slot.schedule} ({', '.join(slot.jobs)}): {error}; use `backupplan daemon` for it"
            )
    return lines
