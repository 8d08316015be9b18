"""`backupplan restore JOB --to PATH [--snapshot ID|latest] [--path SUBPATH] [--dry-run] [--force]`."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from backupplan.errors import EXIT_INTERRUPTED
from backupplan.secrets import mask
from backupplan.units import format_duration, format_size

if TYPE_CHECKING:
    from backupplan.engines import Progress
    from backupplan.runner.restore import RestorePlan, RestoreResult

SHOWN = 50  # items a dry run lists; the count says how many more


def restore_command(
    plan_path: str,
    job_id: str,
    *,
    target: str,
    snapshot: str | None,
    subpath: str | None,
    dry_run: bool,
    force: bool,
) -> int:
    """Copy a job's backup back to `target` with the job's engine; exit 0 when it all arrived."""
    from backupplan.commands.run import check_job_ids
    from backupplan.plan.load import load_plan
    from backupplan.runner.restore import plan_restore, run_restore

    loaded = load_plan(plan_path)
    check_job_ids(loaded, [job_id])
    job = loaded.jobs[job_id]
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
