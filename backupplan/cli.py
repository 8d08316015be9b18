"""The command line: flags in, one call into `backupplan.commands.<verb>` out.

Nothing here reads YAML, starts processes or formats reports; command modules are imported
inside each command so that `backupplan --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from backupplan import __version__

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


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="backupplan", message="%(prog)s %(version)s")
def cli() -> None:
    """Declarative backups: one YAML plan, rsync and rclone jobs, a crash-safe journal and a
    static status site.

    \b
    Typical use:
      backupplan init               write a commented starter plan
      backupplan validate           check backups.yaml, every problem with its line
      backupplan plan               show what changed since the last apply
      backupplan apply              record the plan and run every job that is due
      backupplan daemon             keep running jobs on their schedules

    Exit codes: 0 ok, 1 a job failed or the plan is invalid, 2 usage error,
    3 internal error (a crash report is written), 130 interrupted.
    """


@cli.command(context_settings=CONTEXT)
@click.argument("plan", required=False, metavar="[PLAN]")
@plan_option
def validate(plan: str | None, plan_path: str) -> int:
    """Check a plan and report every problem at once, each as FILE:LINE:COL: PATH: MESSAGE.

    PLAN defaults to ./backups.yaml. Exits 0 when the plan is valid, 1 otherwise.

    \b
    Examples:
      backupplan validate
      backupplan validate examples/plans/laptop-usb.yaml
    """
    from backupplan.commands.validate import validate_command

    return validate_command(plan or plan_path)


@cli.command(context_settings=CONTEXT)
@click.option("--indent", type=int, default=2, show_default=True, help="JSON indentation.")
def schema(indent: int) -> int:
    """Print the JSON Schema of the plan file.

    Save it and point your editor at it for completion and inline checks:

    \b
      backupplan schema > backupplan.schema.json
      # first line of backups.yaml:
      # yaml-language-server: $schema=./backupplan.schema.json
    """
    from backupplan.commands.schema import schema_command

    return schema_command(indent)


@cli.command(context_settings=CONTEXT)
@click.argument("plan", required=False, default=DEFAULT_PLAN, metavar="[PLAN]")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(plan: str, force: bool) -> int:
    """Write a commented starter plan (./backups.yaml unless PLAN is given).

    Refuses to overwrite an existing file unless --force is given.

    \b
    Examples:
      backupplan init
      backupplan init /etc/backupplan/backups.yaml
    """
    from backupplan.commands.init import init_command

    return init_command(plan, force=force)


@cli.command(context_settings=CONTEXT)
@plan_option
@click.option(
    "--daemon", "daemon", is_flag=True, help="A service running `backupplan daemon` instead of a timer."
)
@click.option("--write-to", metavar="DIR", help="Write the unit files into DIR instead of printing them.")
def systemd(plan_path: str, daemon: bool, write_to: str | None) -> int:
    """Print systemd units that run the plan: a timer starting `backupplan apply` at every slot
    (default), or with --daemon a service running `backupplan daemon`.

    \b
    Examples:
      backupplan systemd --plan /etc/backupplan/backups.yaml
      backupplan systemd --daemon --write-to /etc/systemd/system
    """
    from backupplan.commands.ossched import systemd_command

    return systemd_command(plan_path, daemon=daemon, write_to=write_to)


@cli.command(context_settings=CONTEXT)
@plan_option
@click.option(
    "--log",
    metavar="FILE",
    help="Append apply's output to FILE (default: discard it; the journal and the site keep every run).",
)
def cron(plan_path: str, log: str | None) -> int:
    """Print crontab lines that start `backupplan apply` at every distinct schedule of the plan.

    \b
    Examples:
      backupplan cron --plan /etc/backupplan/backups.yaml | crontab -
      backupplan cron --log /var/log/backupplan.log
    """
    from backupplan.commands.ossched import cron_command

    return cron_command(plan_path, log=log)


@cli.group(context_settings=CONTEXT)
def notify() -> None:
    """Notifications: check that every target of the plan can be reached."""


@notify.command("test", context_settings=CONTEXT)
@click.argument("job", required=False, metavar="[JOB]")
@plan_option
def notify_test(job: str | None, plan_path: str) -> int:
    """Send a test message to each notification target: the targets of JOB (settings.notify plus
    the job's own), or of every job. Prints OK or the error for each (URLs masked).

    Ping URLs are not faked into success or failure: healthchecks URLs get a /log ping, which
    changes no status; Uptime Kuma and Cronitor URLs are listed only.

    Exits 0 when every target was reached, 1 otherwise.

    \b
    Examples:
      backupplan notify test
      backupplan notify test photos --plan /etc/backupplan/backups.yaml
    """
    from backupplan.commands.notify import notify_test_command

    return notify_test_command(plan_path, job)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the `backupplan` command."""
    from backupplan.errors import run_cli

    sys.exit(run_cli(cli, argv))
