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
    from backupplan.commands.timers import systemd_command

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
    from backupplan.commands.timers import cron_command

    return cron_command(plan_path, log=log)


@cli.command("plan", context_settings=CONTEXT)
@plan_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when the plan differs from the applied one, 0 when it does not, 1 on errors.",
)
def plan_(plan_path: str, detailed_exitcode: bool) -> int:
    """Show what changed since the last apply (+ added, ~ changed field by field, - removed) and
    which jobs are due now and why, with the exact command each would run. Writes nothing.

    \b
    Examples:
      backupplan plan
      backupplan plan --detailed-exitcode --plan /etc/backupplan/backups.yaml
    """
    from backupplan.commands.plan import plan_command

    return plan_command(plan_path, detailed_exitcode=detailed_exitcode)


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
@click.argument("job", required=False, metavar="[JOB]")
@plan_option
@click.option("--resume", "action", flag_value="resume", help="Run the interrupted jobs again now.")
@click.option("--pause", "action", flag_value="pause", help="Pause the jobs until `backupplan resume`.")
@click.option(
    "--dismiss", "action", flag_value="dismiss", help="Forget the interruptions; jobs run at their next slot."
)
def recover(job: str | None, plan_path: str, action: str | None) -> int:
    """List runs a crash interrupted that still need a decision, or handle them (of JOB, or all).

    `apply` and the daemon handle new ones by settings.recovery (resume or pause); this is the
    same by hand.

    \b
    Examples:
      backupplan recover
      backupplan recover --resume photos
      backupplan recover --dismiss
    """
    from backupplan.commands.recover import recover_command

    return recover_command(plan_path, job, action)  # type: ignore[arg-type]


def state_dir_option(function: F) -> F:
    """Add `--state-dir DIR`: read that state dir alone, without the plan."""
    return click.option(
        "--state-dir",
        "state_dir",
        default=None,
        metavar="DIR",
        help="Read this state dir alone (the plan is not read; no schedules or descriptions).",
    )(function)


@cli.group(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB")
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


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
@click.argument("job", required=False, metavar="[JOB]")
@plan_option
@state_dir_option
@click.option("--run", "run", metavar="ID", help="Only this run (its id, or the start of it).")
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
@click.option("--export", metavar="FILE", help="Write the lines to FILE as plain text (mode 0600) instead.")
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


@cli.group(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
@click.argument("jobs", nargs=-1, required=True, metavar="JOB...")
@plan_option
@click.option("--dry-run", is_flag=True, help="Print the exact command and what would change; write nothing.")
@click.option("--force", is_flag=True, help="Run paused or disabled jobs too.")
def run(jobs: tuple[str, ...], plan_path: str, dry_run: bool, force: bool) -> int:
    """Run jobs now, in the foreground, with live progress and a summary at the end.

    Up to settings.max_parallel jobs run at once. Exits 0 only when every run succeeded (a
    warning, such as files that vanished during the copy, counts as success). Ctrl-C stops the
    runs cleanly: they are recorded as interrupted and the next run resumes.

    \b
    Examples:
      backupplan run photos
      backupplan run photos documents --plan /etc/backupplan/backups.yaml
      backupplan run photos --dry-run
    """
    from backupplan.commands.run import run_command

    return run_command(plan_path, jobs, dry_run=dry_run, force=force)


@cli.command(context_settings=CONTEXT)
@click.argument("jobs", nargs=-1, required=True, metavar="JOB...")
@plan_option
def pause(jobs: tuple[str, ...], plan_path: str) -> int:
    """Pause jobs: neither the scheduler nor `run` starts them until `backupplan resume`.

    A run in progress (in any process: the daemon, another terminal) is stopped within about two
    seconds and recorded as interrupted; the next run resumes where it stopped.

    \b
    Examples:
      backupplan pause photos
    """
    from backupplan.commands.run import pause_command

    return pause_command(plan_path, jobs)


@cli.command(context_settings=CONTEXT)
@click.argument("jobs", nargs=-1, required=True, metavar="JOB...")
@plan_option
def resume(jobs: tuple[str, ...], plan_path: str) -> int:
    """Let paused jobs run again (at their next slot, or now with `backupplan run`).

    \b
    Examples:
      backupplan resume photos
    """
    from backupplan.commands.run import resume_command

    return resume_command(plan_path, jobs)


@cli.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB")
@plan_option
@click.option("--prune", is_flag=True, help="Apply the job's keep: policy now.")
@click.option(
    "--dry-run", is_flag=True, help="With --prune: show what would be removed and why the rest stays."
)
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
def snapshots(job: str, plan_path: str, prune: bool, dry_run: bool, as_json: bool) -> int:
    """List JOB's snapshots: id, time, files, total size and the size unique to each (what removing
    it would free), then unfinished (.partial) and trash folders.

    With --prune, remove the snapshots the job's keep: policy does not keep (never the newest);
    add --dry-run to see what would go, and why each other snapshot stays.

    \b
    Examples:
      backupplan snapshots photos
      backupplan snapshots photos --prune --dry-run
    """
    from backupplan.commands.snapshots import snapshots_command

    return snapshots_command(plan_path, job, prune=prune, dry_run=dry_run, as_json=as_json)


@cli.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB")
@plan_option
@click.option("--checksum", is_flag=True, help="Compare contents, not just sizes and times.")
def verify(job: str, plan_path: str, checksum: bool) -> int:
    """Compare JOB's copy with its source now (the latest snapshot, for snapshot jobs).

    Quick mode compares sizes and times; --checksum (or the job's verify: checksum) reads every
    file on both sides. Nothing is written. The result is journaled and shown by `status` and on
    the site. Exits 0 when contents match, 1 when they differ or cannot be compared.

    \b
    Examples:
      backupplan verify photos
      backupplan verify photos --checksum
    """
    from backupplan.commands.verify import verify_command

    return verify_command(plan_path, job, checksum=checksum)


@cli.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB")
@plan_option
@click.option("--to", "target", required=True, metavar="PATH", help="The folder to restore into.")
@click.option(
    "--snapshot", metavar="ID|latest", default=None, help="The snapshot to restore [default: latest]."
)
@click.option("--path", "subpath", metavar="SUBPATH", default=None, help="Restore only this file or folder.")
@click.option("--dry-run", is_flag=True, help="List what would be written; write nothing.")
@click.option("--force", is_flag=True, help="Write into a non-empty folder (replaces same-named files).")
def restore(
    job: str,
    plan_path: str,
    target: str,
    snapshot: str | None,
    subpath: str | None,
    dry_run: bool,
    force: bool,
) -> int:
    """Copy JOB's backup back into PATH, with the job's engine: a snapshot (the latest unless
    --snapshot says), or the job's copy for jobs without snapshots.

    PATH must not be inside the backup. A PATH that is not empty is refused unless --force is
    given; even then nothing in it is deleted. --path restores one file or folder, at the same
    place under PATH.

    \b
    Examples:
      backupplan restore photos --to /tmp/photos-restored
      backupplan restore photos --snapshot 2026-11-20T020000Z --path 2024/beach.jpg --to /tmp/r
      backupplan restore photos --to ~/Pictures --force --dry-run
    """
    from backupplan.commands.restore import restore_command

    return restore_command(
        plan_path, job, target=target, snapshot=snapshot, subpath=subpath, dry_run=dry_run, force=force
    )


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the `backupplan` command."""
    from backupplan.errors import run_cli

    sys.exit(run_cli(cli, argv))
