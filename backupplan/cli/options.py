"""Options several commands share, and the context every command uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PLAN = "backups.yaml"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def plan_option(function: F) -> F:
    """Add `-p/--plan PATH` (default ./backups.yaml, or $BACKUPPLAN_PLAN)."""
    from backupplan.cli.completion import complete_file  # here: completion imports this module

    return click.option(
        "-p",
        "--plan",
        "plan_path",
        default=DEFAULT_PLAN,
        show_default=True,
        envvar="BACKUPPLAN_PLAN",
        metavar="PATH",
        help="The plan file.",
        shell_complete=complete_file,
    )(function)


def state_dir_option(function: F) -> F:
    """Add `--state-dir DIR`: read that state dir alone, without the plan."""
    from backupplan.cli.completion import complete_dir

    return click.option(
        "--state-dir",
        "state_dir",
        default=None,
        metavar="DIR",
        help="Read this state dir alone (the plan is not read; no schedules or descriptions).",
        shell_complete=complete_dir,
    )(function)


def _host_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from backupplan.plan.model.fleet import HOST_NAME

    if value is not None and not HOST_NAME.match(value):
        raise click.BadParameter(f"{value!r} is not a host name (letters, digits, '.', '-' and '_')")
    return value


def host_option(help_text: str) -> Callable[[F], F]:
    """Add `--host NAME`: act as (or preview) that machine of a fleet plan (docs/fleet.md)."""

    def decorate(function: F) -> F:
        return click.option("--host", metavar="NAME", callback=_host_name, help=help_text)(function)

    return decorate
