"""The command line. Every command, and the module that holds its flags:

- `backupplan.cli.plan`: init, validate, schema, plan, apply, daemon, systemd, cron
- `backupplan.cli.runs`: run, pause, resume, recover, snapshots, verify, restore
- `backupplan.cli.state`: status, check, history, changes, logs, doctor, site build|serve,
  journal repair|compact, notify test
- `backupplan.cli.fleet`: fleet build|status|check
- `backupplan.cli.completion`: completion (and the callbacks that complete job and run ids)

Each command parses its flags and makes one call into `backupplan.commands.<verb>`; nothing here
reads YAML, starts processes or formats reports. `backupplan.cli.exits` turns what the command
returned or raised into the process's exit code.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from backupplan import __version__
from backupplan.cli import completion, fleet, plan, runs, state
from backupplan.cli.options import CONTEXT


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


for command in (
    plan.init,
    plan.validate,
    plan.schema,
    plan.plan_,
    plan.apply,
    plan.daemon,
    plan.systemd,
    plan.cron,
    runs.run,
    runs.pause,
    runs.resume,
    runs.recover,
    runs.snapshots,
    runs.verify,
    runs.restore,
    state.status,
    state.check,
    state.history,
    state.changes,
    state.logs,
    state.doctor,
    state.site,
    state.journal,
    state.notify,
    fleet.fleet,
    completion.completion,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the `backupplan` command."""
    from backupplan.cli.exits import run_cli

    sys.exit(run_cli(cli, argv))
