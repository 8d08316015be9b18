"""`backupplan restore JOB --to PATH [--snapshot ID|latest] [--path SUBPATH] [--dry-run] [--force]`, and
`backupplan restore JOB --dump NAME [--snapshot ID] [--to-database DB] [--dry-run] [--force]`."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from backupplan.errors import EXIT_INTERRUPTED
from backupplan.secrets import mask
from backupplan.units import format_duration, format_size

if TYPE_CHECKING:
    from backupplan.dumps.restore import DumpRestore, Loaded
    from backupplan.engines import Progress
    from backupplan.plan.load import LoadedPlan
    from backupplan.runner.restore import RestorePlan, RestoreResult

SHOWN = 50  # items a dry run lists; the count says how many more


def restore_command(
    plan_path: str,
    job_id: str,
    *,
    target: str | None,
    snapshot: str | None,
    subpath: str | None,
    dry_run: bool,
    force: bool,
    dump: str | None = None,
    to_database: str | None = None,
) -> int:
    """Copy a job's backup back to `target` with the job's engine (or, with `dump`, load that
    database dump into its database); exit 0 when it all arrived."""
    from backupplan.commands.run import check_job_ids
    from backupplan.plan.load import load_plan
    from backupplan.runner.restore import plan_restore, run_restore

    if dump is not None and (target is not None or subpath is not None):
        raise click.UsageError("--dump loads a database: leave --to and --path out (--to-database names one)")
    if dump is None and to_database is not None:
        raise click.UsageError("--to-database goes with --dump NAME")
    if dump is None and target is None:
        raise click.UsageError("Missing option '--to' (the folder to restore into), or --dump NAME")
    loaded = load_plan(plan_path)
    check_job_ids(loaded, [job_id])
    if dump is not None:
        return restore_dump(loaded, job_id, dump, snapshot=snapshot, to_database=to_database,
                            dry_run=dry_run, force=force)  # fmt: skip
    assert target is not None
    job = loaded.jobs[job_id]
    if job.engine == "rclone" and job.versions is not None and snapshot not in (None, "latest"):
        check_version(loaded, job_id, snapshot)
    where = Path(target).expanduser().absolute()
    plan = plan_restore(
        job_id, job, loaded.base_dir, target=where, snapshot=snapshot, subpath=subpath, force=force
    )
    if dry_run:
        click.echo(f"Would restore {plan.origin} into {plan.target}")
        result = asyncio.run(run_restore(plan, dry_run=True))
        for line in dry_run_lines(result):
            click.echo(line)
        click.echo("Dry run: nothing was written.")
        return 0 if result.outcome.succeeded else 1
    from backupplan.journal import JobLock

    click.echo(f"Restoring {plan.origin} into {plan.target}")
    with JobLock(loaded.state_dir, job_id):  # no run or prune of this job meanwhile
        result, interrupted = asyncio.run(_restore_with_progress(plan, loaded.plan.settings.stop_grace))
    click.echo(summary_line(plan, result))
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if result.outcome.succeeded else 1


def check_version(loaded: LoadedPlan, job_id: str, folder: str) -> None:
    """Raise BackupplanError unless `folder` is one of the version folders of the rclone job
    `job_id` (listed with rclone: the remote ones cannot be checked otherwise)."""
    from backupplan.errors import BackupplanError
    from backupplan.snapshots.versions import list_versions, versions_root

    job = loaded.jobs[job_id]
    root = versions_root(job, loaded.base_dir)
    names = [version.id for version in asyncio.run(list_versions(root, job.env))]
    if folder not in names:
        shown = ", ".join(names[-5:]) if names else "none yet"
        raise BackupplanError(
            f"{job_id} has no version folder {folder!r} in {root} (the newest: {shown}; "
            f"`backupplan snapshots {job_id}` lists them all)"
        )


async def _restore_with_progress(plan: RestorePlan, stop_grace: float) -> tuple[RestoreResult, bool]:
    from backupplan.commands.run import run_with_signals
    from backupplan.runner.restore import run_restore

    progress = ProgressLine()
    cancel = asyncio.Event()
    try:
        restoring = run_restore(
            plan, on_progress=progress.show, on_output=progress.output, cancel=cancel, stop_grace=stop_grace
        )
        result, _ = await run_with_signals(cancel.set, restoring)
    finally:
        progress.done()
    return result, cancel.is_set()


class ProgressLine:
    """Progress on one line that rewrites itself on a terminal, a line every 10 s otherwise; the
    engine's error lines in between."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self._last = 0.0 if self.live else time.monotonic()  # no 0 % line in logs
        self._drawn = False

    def show(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < (0.2 if self.live else 10.0):
            return
        self._last = now
        percent = f"{progress.percent:5.1f}%  " if progress.percent is not None else ""
        rate = f"  {format_size(progress.rate)}/s" if progress.rate else ""
        text = f"{percent}{format_size(progress.bytes_done)}{rate}"
        if self.live:
            self.stream.write(f"\r\x1b[K{text}")
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def output(self, record: bytes) -> None:
        text = record.decode("utf-8", "backslashreplace")
        if "error" in text.lower() or text.startswith("rsync:"):
            self.done()
            self.stream.write(mask(text) + "\n")

    def done(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False


def summary_line(plan: RestorePlan, result: RestoreResult) -> str:
    """The last line of a restore: what arrived, or what went wrong."""
    stats = result.stats
    if result.outcome.succeeded:
        text = (
            f"Restored {stats.files_transferred} files ({format_size(stats.bytes_transferred)}) into "
            f"{plan.target} in {format_duration(result.duration)}."
        )
        if result.outcome.kind == "warning":
            text += f" Warning: {mask(result.outcome.message)}"
        return text
    hint = f" ({result.outcome.hint})" if result.outcome.hint else ""
    return f"Restore failed: {mask(result.outcome.message)}{hint}"


def dry_run_lines(result: RestoreResult) -> list[str]:
    """What a restore would write: new files, then files it would replace."""
    lines = []
    for item in result.changes[:SHOWN]:
        lines.append(f"  {'+ new' if item.kind == 'missing' else '~ replace'}  {mask(item.path)}")
    if len(result.changes) > SHOWN:
        lines.append(f"  … and {len(result.changes) - SHOWN} more")
    count = len(result.changes)
    lines.append(f"{count} item{'s' if count != 1 else ''} would be written.")
    lines += [f"  ! {mask(error)}" for error in result.errors[:10]]
    return lines


def restore_dump(
    loaded: LoadedPlan,
    job_id: str,
    name: str,
    *,
    snapshot: str | None,
    to_database: str | None,
    dry_run: bool,
    force: bool,
) -> int:
    """Load the dump `name` of a job from its backup into its database (docs/dumps.md)."""
    from backupplan.dumps.clients import register_password
    from backupplan.dumps.restore import load_lines, plan_dump_restore, prepare_target
    from backupplan.journal import JobLock

    job = loaded.jobs[job_id]
    plan = plan_dump_restore(
        job_id, job, loaded.base_dir, name=name, snapshot=snapshot, to_database=to_database
    )
    register_password(plan.dump)
    if dry_run:
        click.echo(f"Would restore {mask(plan.origin)} into {mask(plan.target)}")
        if plan.file is None:
            click.echo(f"  first fetched with {job.engine} into a private folder under {loaded.state_dir}")
        for line in load_lines(plan, plan.file or Path(plan.relative)):
            click.echo(f"  {mask(line)}")
        click.echo("Dry run: nothing was run or written.")
        return 0
    click.echo(f"Restoring {mask(plan.origin)} into {mask(plan.target)}")
    with JobLock(loaded.state_dir, job_id), _dump_file(loaded, job_id, plan) as file:
        click.echo(f"The database: {prepare_target(plan, force=force)}")
        result, interrupted = asyncio.run(_load_with_signals(plan, file, loaded.plan.settings.stop_grace))
    click.echo(dump_summary(plan, result))
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if result.outcome.succeeded else 1


@contextlib.contextmanager
def _dump_file(loaded: LoadedPlan, job_id: str, plan: DumpRestore) -> Iterator[Path]:
    """The dump in the backup: the file itself when the backup is local, else a copy fetched with
    the job's engine into a private folder in the state dir, removed afterwards."""
    if plan.file is not None:
        yield plan.file
        return
    from backupplan.dumps import DumpError
    from backupplan.fsutil import ensure_private_dir
    from backupplan.runner.restore import plan_restore, run_restore

    ensure_private_dir(loaded.state_dir)
    with tempfile.TemporaryDirectory(prefix="dump-restore-", dir=loaded.state_dir) as folder:
        job = loaded.jobs[job_id]
        fetch = plan_restore(
            job_id, job, loaded.base_dir, target=Path(folder), snapshot=plan.snapshot, subpath=plan.relative
        )
        click.echo(f"Fetching {plan.relative} from {mask(job.destination)}")
        fetched = asyncio.run(run_restore(fetch))
        if not fetched.outcome.succeeded:
            raise DumpError(f"cannot fetch {plan.relative} from the backup: {fetched.outcome.message}")
        yield Path(folder) / plan.relative


async def _load_with_signals(plan: DumpRestore, file: Path, stop_grace: float) -> tuple[Loaded, bool]:
    from backupplan.commands.run import run_with_signals
    from backupplan.dumps.restore import load_dump

    cancel = asyncio.Event()
    progress = ProgressLine()
    loading = load_dump(plan, file, on_output=progress.output, cancel=cancel, stop_grace=stop_grace)
    result, _ = await run_with_signals(cancel.set, loading)
    return result, cancel.is_set()


def dump_summary(plan: DumpRestore, result: Loaded) -> str:
    """The last line of a dump's restore: what was loaded, or what went wrong."""
    done = f"Restored dump {plan.dump.name} into {mask(plan.target)} in {format_duration(result.duration)}."
    if result.outcome.kind == "ok":
        return done
    if result.outcome.kind == "warning":
        return f"{done} Warning: {mask(result.outcome.message)}"
    hint = f" ({result.outcome.hint})" if result.outcome.hint else ""
    return f"Restore failed: {mask(result.outcome.message)}{hint}"
