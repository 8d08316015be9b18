"""The plan's life: write one (init), check it (validate, schema), see and apply it (plan, apply),
and keep it running (daemon, or the OS timers of systemd and cron).

Each command parses its flags and makes one call into `backupplan.commands.<verb>`, imported
inside the command so that `backupplan --help` stays fast.
"""

from __future__ import annotations

import click

from backupplan.cli.completion import complete_dir, complete_file
from backupplan.cli.options import CONTEXT, DEFAULT_PLAN, host_option, plan_option


@click.command(context_settings=CONTEXT)
@click.argument("plans", nargs=-1, metavar="[PLAN]...", shell_complete=complete_file)
@plan_option
@click.option(
    "--no-env",
    "without_env",
    is_flag=True,
    help="Check without the environment's values: an unset ${VAR} is a note, not an error "
    "(for CI and pre-commit, which hold no secrets).",
)
def validate(plans: tuple[str, ...], plan_path: str, without_env: bool) -> int:
    """Check plans and report every problem at once, each as FILE:LINE:COL: PATH: MESSAGE.

    PLAN defaults to ./backups.yaml; several may be given (as pre-commit does). Exits 0 when every
    plan is valid, 1 otherwise.

    \b
    Examples:
      backupplan validate
      backupplan validate examples/plans/laptop-usb.yaml
      backupplan validate --no-env examples/plans/*.yaml
    """
    from backupplan.commands.validate import validate_command, validate_many

    if len(plans) > 1:
        return validate_many(plans, without_env=without_env)
    return validate_command(plans[0] if plans else plan_path, without_env=without_env)


@click.command(context_settings=CONTEXT)
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


@click.command(context_settings=CONTEXT)
@click.argument("plan", required=False, default=DEFAULT_PLAN, metavar="[PLAN]", shell_complete=complete_file)
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


@click.command(context_settings=CONTEXT)
@plan_option
@click.option(
    "--daemon", "daemon", is_flag=True, help="A service running `backupplan daemon` instead of a timer."
)
@click.option(
    "--write-to",
    metavar="DIR",
    help="Write the unit files into DIR instead of printing them.",
    shell_complete=complete_dir,
)
@host_option("The units for this machine of a fleet plan (sets BACKUPPLAN_HOST).")
def systemd(plan_path: str, daemon: bool, write_to: str | None, host: str | None) -> int:
    """Print systemd units that run the plan: a timer starting `backupplan apply` at every slot
    (default), or with --daemon a service running `backupplan daemon`.

    \b
    Examples:
      backupplan systemd --plan /etc/backupplan/backups.yaml
      backupplan systemd --daemon --write-to /etc/systemd/system
      backupplan systemd --host web-1    # for web-1 of a fleet plan
    """
    from backupplan.commands.timers import systemd_command

    return systemd_command(plan_path, daemon=daemon, write_to=write_to, host=host)


@click.command(context_settings=CONTEXT)
@plan_option
@click.option(
    "--log",
    metavar="FILE",
    help="Append apply's output to FILE (default: discard it; the journal and the site keep every run).",
    shell_complete=complete_file,
)
@host_option("The lines for this machine of a fleet plan (sets BACKUPPLAN_HOST).")
def cron(plan_path: str, log: str | None, host: str | None) -> int:
    """Print crontab lines that start `backupplan apply` at every distinct schedule of the plan.

    \b
    Examples:
      backupplan cron --plan /etc/backupplan/backups.yaml | crontab -
      backupplan cron --log /var/log/backupplan.log
      backupplan cron --host db-1 | ssh db-1 crontab -
    """
    from backupplan.commands.timers import cron_command

    return cron_command(plan_path, log=log, host=host)


@click.command("plan", context_settings=CONTEXT)
@plan_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when the plan differs from the applied one, 0 when it does not, 1 on errors.",
)
@host_option("Preview the jobs another machine of a fleet plan runs.")
def plan_(plan_path: str, detailed_exitcode: bool, host: str | None) -> int:
    """Show what changed since the last apply (+ added, ~ changed field by field, - removed) and
    which jobs are due now and why, with the exact command each would run. Writes nothing.

    \b
    Examples:
      backupplan plan
      backupplan plan --detailed-exitcode --plan /etc/backupplan/backups.yaml
      backupplan plan --host web-1      # what web-1 runs (docs/fleet.md)
    """
    from backupplan.commands.plan import plan_command

    return plan_command(plan_path, detailed_exitcode=detailed_exitcode, host=host)


@click.command(context_settings=CONTEXT)
@plan_option
@click.option("--dry-run", is_flag=True, help="Show the plan and what would run; record and run nothing.")
def apply(plan_path: str, dry_run: bool) -> int:
    """Record the plan as applied and run every job that is due, then print a summary.

    Jobs that never ran are due at once; missed slots are caught up (missed: run_once) or
    recorded as skipped (missed: skip); runs a crash interrupted are resumed or paused
    (settings.recovery). Removed jobs keep their history and their destination is not touched.
    Exits 0 when every run succeeded or nothing was due, 1 otherwise. When a daemon runs the
    plan, apply asks it to reload instead.

    \b
    Examples:
      backupplan apply
      backupplan apply --dry-run --plan /etc/backupplan/backups.yaml
    """
    from backupplan.commands.apply import apply_command

    return apply_command(plan_path, dry_run=dry_run)


@click.command(context_settings=CONTEXT)
@plan_option
def daemon(plan_path: str) -> int:
    """Apply the plan, then run every job on its schedule until stopped.

    Reloads the plan when the file changes or on SIGHUP (an invalid edit is reported and the
    running plan kept); SIGTERM or SIGINT stop it cleanly (running jobs are recorded as
    interrupted and resumed at the next start). One daemon per state dir.

    \b
    Examples:
      backupplan daemon --plan /etc/backupplan/backups.yaml
      backupplan systemd --daemon      # a systemd service running it
    """
    from backupplan.commands.daemon import daemon_command

    return daemon_command(plan_path)
