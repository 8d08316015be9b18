"""`backupplan systemd` and `backupplan cron`: print what the OS scheduler needs."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from backupplan.plan.load import LoadedPlan, load_plan
from backupplan.scheduler.timers import crontab_lines, systemd_units


def executable() -> str:
    """The command that starts this backupplan: its console script, or `python -m backupplan`."""
    script = Path(sys.argv[0])
    if script.name == "backupplan" and script.exists():
        return shlex.quote(str(script.resolve()))
    return f"{shlex.quote(sys.executable)} -m backupplan"


def systemd_command(plan_path: str, *, daemon: bool, write_to: str | None, host: str | None = None) -> int:
    loaded = load_plan(plan_path, host=host)
    _say_host(loaded, host)
    units = systemd_units(loaded, executable(), daemon=daemon, host=host)
    if write_to:
        folder = Path(write_to)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in units.items():
            (folder / name).write_text(text)
            click.echo(f"wrote {folder / name}")
        first = "backupplan.service" if daemon else "backupplan.timer"
        click.echo(f"Next: systemctl daemon-reload && systemctl enable --now {first}")
        return 0
    for name, text in units.items():
        click.echo(f"# ---- {name} ----")
        click.echo(text)
    return 0


def cron_command(plan_path: str, *, log: str | None, host: str | None = None) -> int:
    loaded = load_plan(plan_path, host=host)
    _say_host(loaded, host)
    for line in crontab_lines(loaded, executable(), Path(log).absolute() if log else None, host=host):
        click.echo(line)
    return 0


def _say_host(loaded: LoadedPlan, host: str | None) -> None:
    """In a fleet plan, say (on stderr: the output is piped to files) which host these are for."""
    if host is not None or loaded.in_fleet:
        click.echo(f"# {loaded.acting_as()}", err=True)
