"""Reading what happened: status, check, history, logs, doctor, and the site, journal and notify groups.

Each command parses its flags and makes one call into `backupplan.commands.<verb>`, imported
inside the command so that `backupplan --help` stays fast.
"""

from __future__ import annotations

import click

from backupplan.cli.completion import complete_dir, complete_file, complete_jobs, complete_runs
from backupplan.cli.options import CONTEXT, plan_option, state_dir_option


@click.command(context_settings=CONTEXT)
@plan_option
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status document (see docs/status-json.md).")
def status(plan_path: str, state_dir: str | None, as_json: bool) -> int:
    """Show every job: status, last run, last success, next run and bytes, then journal problems.

    Jobs of the plan that never ran show `never run`; jobs in the journal but no longer in the
    plan show `removed`. Exits 0, or 1 when the plan is invalid or the state dir cannot be
    written. The --json document is a versioned contract for monitoring and the site.

    \b
    Examples:
      backupplan status
      backupplan status --json | jq '.jobs[] | select(.overdue)'
    """
    from backupplan.commands.status import status_command

    return status_command(plan_path, state_dir=state_dir, as_json=as_json)


class _UnknownUsage(click.UsageError):
    """A usage error of a monitoring plugin: exit 3 (UNKNOWN), shown as its status line."""

    exit_code = 3

    def show(self, file: object = None) -> None:
        from backupplan.commands.check import usage_error

        usage_error(self.format_message())


class MonitoringCommand(click.Command):
    """A command that monitoring systems run: a usage error must be UNKNOWN (exit 3), because
    click's usual exit 2 means CRITICAL to them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            raise _UnknownUsage(error.format_message(), ctx) from None


@click.command(cls=MonitoringCommand, context_settings=CONTEXT)
@plan_option
@click.option(
    "--status",
    "status_source",
    metavar="FILE|URL",
    help="Judge this published status.json (a path, - for stdin, or an http(s):// URL) instead of "
    "the plan's state; the plan is not read.",
)
@click.option(
    "--job",
    "jobs",
    multiple=True,
    metavar="JOB",
    help="Judge only this job (repeatable).",
    shell_complete=complete_jobs,
)
@click.option(
    "--late-critical",
    default="1d",
    show_default=True,
    metavar="DURATION",
    help="An overdue job is WARNING, and CRITICAL once overdue by more than this.",
)
@click.option(
    "--space-warning",
    default="10%",
    show_default=True,
    metavar="SHARE|SIZE",
    help="WARNING when the state dir has less free space than this (10% of its disk, or 2GiB; 0: off).",
)
@click.option(
    "--space-critical",
    default="5%",
    show_default=True,
    metavar="SHARE|SIZE",
    help="CRITICAL when the state dir has less free space than this.",
)
@click.option(
    "--max-age",
    metavar="DURATION",
    help="CRITICAL when the status is older than this (besides its own freshness promise).",
)
@click.option(
    "--timeout",
    default="10s",
    show_default=True,
    metavar="DURATION",
    help="Give up on a --status URL after this long (UNKNOWN).",
)
def check(
    plan_path: str,
    status_source: str | None,
    jobs: tuple[str, ...],
    late_critical: str,
    space_warning: str,
    space_critical: str,
    max_age: str | None,
    timeout: str,
) -> int:
    """Judge the backups for a monitoring system (Nagios, Icinga, Naemon, Checkmk, NRPE, Zabbix):
    one status line with performance data, then details.

    CRITICAL: a job failed, timed out or was held; a job overdue by more than --late-critical; the
    status is stale (its daemon or timer stopped); the state dir cannot record runs or is nearly
    full. WARNING: a job warned, was interrupted or is overdue; the journal is damaged; the state
    dir is getting full. Exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for a usage error or an
    invalid plan). See docs/monitoring.md.

    \b
    Examples:
      backupplan check -p /etc/backupplan/backups.yaml
      backupplan check --job photos --late-critical 12h
      backupplan check --status https://nas.example.org/backups/status.json --max-age 2h
    """
    from backupplan.commands.check import check_command

    return check_command(
        plan_path,
        status_source=status_source,
        jobs=jobs,
        late_critical=late_critical,
        space_warning=space_warning,
        space_critical=space_critical,
        max_age=max_age,
        timeout=timeout,
    )


@click.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB", shell_complete=complete_jobs)
@click.argument("run", required=False, metavar="[RUN]", shell_complete=complete_runs)
@plan_option
@state_dir_option
@click.option("--grep", metavar="REGEX", help="Only paths matching this regular expression (any case).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def changes(
    job: str, run: str | None, plan_path: str, state_dir: str | None, grep: str | None, as_json: bool
) -> int:
    """Show what a run of JOB changed at the destination: each path added, changed or deleted.

    RUN is a run id (or its start); the default is the newest run that counted its changes. A held
    run lists what it would have changed (docs/guard.md). The lists are kept with the runs' logs.

    \b
    Examples:
      backupplan changes photos
      backupplan changes photos 20261128T0200 --grep '\\.jpg$'
    """
    from backupplan.commands.changes import changes_command

    return changes_command(plan_path, job, run, state_dir=state_dir, grep=grep, as_json=as_json)


@click.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB", shell_complete=complete_jobs)
@plan_option
@state_dir_option
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Runs to show."
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def history(job: str, plan_path: str, state_dir: str | None, limit: int, as_json: bool) -> int:
    """Show JOB's runs, newest first: status, start, duration, bytes, files, exit code, attempts
    and the reason of anything but a plain success.

    \b
    Examples:
      backupplan history photos
      backupplan history photos --limit 100 --json
    """
    from backupplan.commands.history import history_command

    return history_command(plan_path, job, state_dir=state_dir, limit=limit, as_json=as_json)


@click.command(context_settings=CONTEXT)
@click.argument("job", required=False, metavar="[JOB]", shell_complete=complete_jobs)
@plan_option
@state_dir_option
@click.option(
    "--run",
    "run",
    metavar="ID",
    help="Only this run (its id, or the start of it).",
    shell_complete=complete_runs,
)
@click.option("--last", is_flag=True, help="Only the newest run (of JOB, or of any job).")
@click.option("--grep", metavar="REGEX", help="Only lines matching this regular expression (any case).")
@click.option("--since", metavar="DURATION", help="Only lines from the last DURATION, e.g. 30m, 2h, 1d.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=500,
    show_default=True,
    help="How many lines, the newest last (0: all).",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines while runs are running.")
@click.option(
    "--export",
    metavar="FILE",
    help="Write the lines to FILE as plain text (mode 0600) instead.",
    shell_complete=complete_file,
)
def logs(
    job: str | None,
    plan_path: str,
    state_dir: str | None,
    run: str | None,
    last: bool,
    grep: str | None,
    since: str | None,
    lines: int,
    follow: bool,
    export: str | None,
) -> int:
    """Show the last lines of the runs' logs across all jobs (or JOB's), newest last, each as
    `JOB RUN | TIME [SOURCE] TEXT`. Matches of --grep are highlighted on a terminal.

    --follow prints new lines as they are written: with JOB, until its running run (or its next
    run) ends; without JOB, every job's runs until Ctrl-C (which exits 0).

    \b
    Examples:
      backupplan logs
      backupplan logs photos --last
      backupplan logs --grep 'exit 23|denied' --since 2d
      backupplan logs photos --follow
      backupplan logs --since 1d --export /tmp/backup-logs.txt
    """
    from backupplan.commands.logs import logs_command

    return logs_command(
        plan_path,
        job,
        state_dir=state_dir,
        run=run,
        last=last,
        grep=grep,
        since=since,
        lines=lines,
        follow=follow,
        export=export,
    )


@click.command(context_settings=CONTEXT)
@plan_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (see docs/doctor-json.md).")
def doctor(plan_path: str, as_json: bool) -> int:
    """Will my backups work? Check the tools (found, new enough), the plan, the state dir (private,
    free space, journal integrity, locks, interrupted runs), every job's source and destination
    (remote ones probed, 5 s at most), the site dir, and show system information.

    Every problem is one line saying what to do. Nothing is changed anywhere. Exits 0 when no check
    warns or fails, 1 otherwise.

    \b
    Examples:
      backupplan doctor
      backupplan doctor --json | jq '.checks[] | select(.status == "fail")'
    """
    from backupplan.commands.doctor import doctor_command

    return doctor_command(plan_path, as_json=as_json)


@click.group(context_settings=CONTEXT)
def site() -> None:
    """The static status site (written after every event)."""


@site.command("build", context_settings=CONTEXT)
@plan_option
def site_build(plan_path: str) -> int:
    """Rebuild the whole status site now (it is also rebuilt after every run).

    \b
    Examples:
      backupplan site build
      backupplan site build --plan /etc/backupplan/backups.yaml
    """
    from backupplan.commands.site import site_build_command

    return site_build_command(plan_path)


@site.command("serve", context_settings=CONTEXT)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port on 127.0.0.1."
)
@click.option(
    "--dir",
    "directory",
    metavar="PATH",
    default=None,
    help="The site folder to serve [default: the plan's settings.site_dir].",
    shell_complete=complete_dir,
)
@plan_option
def site_serve(port: int, directory: str | None, plan_path: str) -> int:
    """Preview the status site at http://127.0.0.1:PORT/ until Ctrl-C.

    Only files inside the site folder are served; folders are never listed.

    \b
    Examples:
      backupplan site serve
      backupplan site serve --port 8080 --dir /srv/backups/site
    """
    from backupplan.commands.site import site_serve_command

    return site_serve_command(plan_path, directory, port)


@click.group(context_settings=CONTEXT)
def journal() -> None:
    """Look after the state journal by hand (it repairs torn writes and compacts itself)."""


@journal.command(context_settings=CONTEXT)
@plan_option
@state_dir_option
def repair(plan_path: str, state_dir: str | None) -> int:
    """Drop damaged lines that `status` reports, once you have looked at the copy kept aside.

    Every intact record stays; the journal is rewritten as a checkpoint of its state and a
    `journal.repaired` record notes what was dropped. The copies made when the damage was found
    stay where they are.
    """
    from backupplan.commands.journal import repair_command

    return repair_command(plan_path, state_dir=state_dir)


@journal.command(context_settings=CONTEXT)
@plan_option
@state_dir_option
def compact(plan_path: str, state_dir: str | None) -> int:
    """Replace the journal by a checkpoint of its state now (it also happens automatically)."""
    from backupplan.commands.journal import compact_command

    return compact_command(plan_path, state_dir=state_dir)


@click.group(context_settings=CONTEXT)
def notify() -> None:
    """Notifications: check that every target of the plan can be reached."""


@notify.command("test", context_settings=CONTEXT)
@click.argument("job", required=False, metavar="[JOB]", shell_complete=complete_jobs)
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
