"""Runs of jobs: start them now (run), hold and release them (pause, resume), handle what a crash
interrupted (recover), and the copies they made (snapshots, verify, restore).

Each command parses its flags and makes one call into `backupplan.commands.<verb>`, imported
inside the command so that `backupplan --help` stays fast.
"""

from __future__ import annotations

import click

from backupplan.cli.completion import complete_dir, complete_jobs
from backupplan.cli.options import CONTEXT, plan_option


@click.command(context_settings=CONTEXT)
@click.argument("jobs", nargs=-1, required=True, metavar="JOB...", shell_complete=complete_jobs)
@plan_option
@click.option("--dry-run", is_flag=True, help="Print the exact command and what would change; write nothing.")
@click.option("--force", is_flag=True, help="Run paused or disabled jobs too.")
@click.option(
    "--accept-changes",
    is_flag=True,
    help="Let this run through the job's guard: after a held run was looked at, or to copy an "
    "empty source over the backup on purpose.",
)
def run(jobs: tuple[str, ...], plan_path: str, dry_run: bool, force: bool, accept_changes: bool) -> int:
    """Run jobs now, in the foreground, with live progress and a summary at the end.

    Up to settings.max_parallel jobs run at once. Exits 0 only when every run succeeded (a
    warning, such as files that vanished during the copy, counts as success). Ctrl-C stops the
    runs cleanly: they are recorded as interrupted and the next run resumes. A run that would
    delete or rewrite more than the job's guard allows is held (exit 1) until it is run again with
    --accept-changes (docs/guard.md).

    \b
    Examples:
      backupplan run photos
      backupplan run photos documents --plan /etc/backupplan/backups.yaml
      backupplan run photos --dry-run
      backupplan run photos --accept-changes
    """
    from backupplan.commands.run import run_command

    return run_command(plan_path, jobs, dry_run=dry_run, force=force, accept_changes=accept_changes)


@click.command(context_settings=CONTEXT)
@click.argument("jobs", nargs=-1, required=True, metavar="JOB...", shell_complete=complete_jobs)
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


@click.command(context_settings=CONTEXT)
@click.argument("jobs", nargs=-1, required=True, metavar="JOB...", shell_complete=complete_jobs)
@plan_option
def resume(jobs: tuple[str, ...], plan_path: str) -> int:
    """Let paused jobs run again (at their next slot, or now with `backupplan run`).

    \b
    Examples:
      backupplan resume photos
    """
    from backupplan.commands.run import resume_command

    return resume_command(plan_path, jobs)


@click.command(context_settings=CONTEXT)
@click.argument("job", required=False, metavar="[JOB]", shell_complete=complete_jobs)
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


@click.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB", shell_complete=complete_jobs)
@plan_option
@click.option("--prune", is_flag=True, help="Apply the job's keep: policy now.")
@click.option(
    "--dry-run", is_flag=True, help="With --prune: show what would be removed and why the rest stays."
)
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
def snapshots(job: str, plan_path: str, prune: bool, dry_run: bool, as_json: bool) -> int:
    """List JOB's snapshots: id, time, files, total size and the size unique to each (what removing
    it would free; not measured for snapshots on a server reached over ssh), then unfinished
    (.partial) and trash folders. For an rclone job with versions:,
    list its version folders (what each run replaced or deleted) and what keeps each.

    With --prune, remove the snapshots (or version folders) the job's keep: policy does not keep
    (never the newest); add --dry-run to see what would go, and why each other one stays.

    \b
    Examples:
      backupplan snapshots photos
      backupplan snapshots photos --prune --dry-run
    """
    from backupplan.commands.snapshots import snapshots_command

    return snapshots_command(plan_path, job, prune=prune, dry_run=dry_run, as_json=as_json)


@click.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB", shell_complete=complete_jobs)
@plan_option
@click.option("--checksum", is_flag=True, help="Compare contents, not just sizes and times.")
@click.option(
    "--metadata",
    is_flag=True,
    help="Count differences of attributes too (modes, times, owners, hard links, ACLs, xattrs).",
)
def verify(job: str, plan_path: str, checksum: bool, metadata: bool) -> int:
    """Compare JOB's copy with its source now (the latest snapshot, for snapshot jobs).

    Quick mode compares sizes and times; --checksum (or the job's verify: checksum) reads every
    file on both sides; --metadata also fails on attributes the copy lost (a hard link stored as
    two files, an ACL or extended attribute missing). Nothing is written. The result is journaled
    and shown by `status` and on the site. Exits 0 when contents match, 1 when they differ or
    cannot be compared.

    \b
    Examples:
      backupplan verify photos
      backupplan verify photos --checksum
      backupplan verify photos --metadata
    """
    from backupplan.commands.verify import verify_command

    return verify_command(plan_path, job, checksum=checksum, metadata=metadata)


@click.command(context_settings=CONTEXT)
@click.argument("job", metavar="JOB", shell_complete=complete_jobs)
@plan_option
@click.option(
    "--to",
    "target",
    default=None,
    metavar="PATH",
    help="The folder to restore into.",
    shell_complete=complete_dir,
)
@click.option(
    "--snapshot",
    metavar="ID|latest",
    default=None,
    help="The snapshot (or an rclone job's version folder) to restore [default: latest].",
)
@click.option("--path", "subpath", metavar="SUBPATH", default=None, help="Restore only this file or folder.")
@click.option("--dump", metavar="NAME", default=None, help="Load the job's database dump NAME instead.")
@click.option(
    "--to-database", metavar="DB", default=None, help="With --dump: load into DB (SQLite: a file path)."
)
@click.option("--dry-run", is_flag=True, help="List what would be written, or run; write nothing.")
@click.option(
    "--force", is_flag=True, help="Write into a non-empty folder or database (replaces same-named items)."
)
def restore(
    job: str,
    plan_path: str,
    target: str | None,
    snapshot: str | None,
    subpath: str | None,
    dump: str | None,
    to_database: str | None,
    dry_run: bool,
    force: bool,
) -> int:
    """Copy JOB's backup back into PATH, with the job's engine: a snapshot (the latest unless
    --snapshot says), or the job's copy for jobs without snapshots. With --dump NAME, load the
    job's database dump NAME from the backup into its database instead (docs/dumps.md).

    PATH must not be inside the backup. A PATH that is not empty is refused unless --force is
    given; even then nothing in it is deleted. --path restores one file or folder, at the same
    place under PATH. A database that holds tables is refused unless --force is given; then the
    dump replaces the objects it holds and leaves the others alone.

    \b
    Examples:
      backupplan restore photos --to /tmp/photos-restored
      backupplan restore photos --snapshot 2026-11-20T020000Z --path 2024/beach.jpg --to /tmp/r
      backupplan restore photos --to ~/Pictures --force --dry-run
      backupplan restore db --dump app --to-database app_restored
      backupplan restore db --dump app --snapshot 2026-11-20T020000Z --force
    """
    from backupplan.commands.restore import restore_command

    return restore_command(
        plan_path, job, target=target, snapshot=snapshot, subpath=subpath, dry_run=dry_run, force=force,
        dump=dump, to_database=to_database,
    )  # fmt: skip
