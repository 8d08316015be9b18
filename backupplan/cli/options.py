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
    return click.option(
        "-p",
        "--plan",
        "plan_path",
        default=DEFAULT_PLAN,
        show_default=True,
        envvar="BACKUPPLAN_PLAN",
        metavar="PATH",
        help="The plan file.",
    )(function)


def state_dir_option(function: F) -> F:
    """Add `--state-dir DIR`: read that state dir alone, without the plan."""
    return click.option(
        "--state-dir",
        "state_dir",
        default=None,
        metavar="DIR",
        help="Read this state dir alone (the plan is not read; no schedules or descriptions).",
    )(function)
