"""Before the destination is touched: is the source really there, and would this run delete or
rewrite more than the job's guard allows? See docs/guard.md.

1. **The source** (local sources): it must exist, hold the job's `source_marker` when one is set,
   and not be empty while the destination holds files (what an unmounted disk looks like).
2. **The guard's limits**, against the files at the destination after the last success:
   - a mirror asks rsync (or rclone) first, in a dry run that itemizes what the run would do; over
     a limit, the run is *held* and nothing is written; with nothing to do, the run ends there (the
     dry run was the whole run: a no-change run costs one pass, as without the guard);
   - a snapshot counts while it writes its new `.partial` folder: the last snapshot is untouched,
     and a held one is discarded before it is promoted.
   `backupplan run JOB --accept-changes` lets one run through.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from backupplan.engines import Outcome, TransferSpec, TransferStats, get_engine, judge
from backupplan.engines.changes import Changes
from backupplan.engines.ssh import ssh_host
from backupplan.errors import BackupplanError
from backupplan.plan.model import Guard, Job
from backupplan.plan.model.guard import limit_count
from backupplan.runner.logfile import RunLog
from backupplan.runner.transfer import readable
from backupplan.secrets import mask

SHOWN = 5  # paths of each kind named in a held run's reason


def source_problem(
    job_id: str, job: Job, spec: TransferSpec, *, destination_has_files: bool, accept: bool
) -> str | None:
    """Given a job and its transfer, return why it must not run (`refused: …`), or None. Only a
    local source can be looked at here; a remote one is the engine's business."""
    from backupplan.engines.base import location_kind

    if location_kind(spec.source) != "local":
        return None
    source = Path(spec.source)
    if not source.exists():
        return (
            f"refused: the source {source} does not exist (is its disk mounted?); "
            "nothing was written to the destination"
        )
    if job.source_marker and not (source / job.source_marker).exists():
        return (
            f"refused: {job.source_marker} is missing from the source {source}: is the right disk "
            "mounted? (create the file there once it is: it marks the real source)"
        )
    guard = job.guard
    if guard is None or guard.empty_source or accept or not destination_has_files or not source.is_dir():
        return None
    if _empty(source):
        return (
            f"refused: the source {source} is empty while the destination holds files: an unmounted "
            f"disk looks like this. Mount it, or run `backupplan run {job_id} --accept-changes` to "
            "copy the empty folder over the backup"
        )
    return None


def _empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def local_destination_has_files(spec: TransferSpec) -> bool | None:
    """Whether a local destination folder holds anything (None: not a local folder)."""
    from backupplan.engines.base import location_kind

    if location_kind(spec.destination) != "local":
        return None
    folder = Path(spec.destination)
    try:
        with os.scandir(folder) as entries:
            return any(entry.name != spec.partial_dir for entry in entries)
    except OSError:
        return False


def over_limits(guard: Guard, changes: Changes, files: int) -> str | None:
    """Given the guard, what a run would change and the files at the destination, return why the
    run is held (`held: …`), or None."""
    problems = []
    deleted = limit_count(guard.max_delete, files)
    if changes.deleted > deleted:
        problems.append(
            f"{changes.deleted:,} of {files:,} files would be deleted ({_limit(guard.max_delete)})"
        )
    changed = limit_count(guard.max_change, files)
    if changes.changed > changed:
        problems.append(
            f"{changes.changed:,} of {files:,} files would be rewritten ({_limit(guard.max_change)})"
        )
    if not problems:
        return None
    return "held: " + " and ".join(problems)


def _limit(limit: float | int) -> str:
    return f"limit {limit:,}" if isinstance(limit, int) else f"limit {limit:g}%"


def held_lines(changes: Changes) -> list[str]:
    """A few of the paths a held run would have changed, for its log and notifications."""
    lines = []
    for kind, word, count in (
        ("-", "deleted", changes.deleted),
        ("~", "rewritten", changes.changed),
        ("+", "added", changes.added),
    ):
        shown = changes.samples[kind][:SHOWN]  # type: ignore[index]
        if shown:
            more = f" and {count - len(shown):,} more" if count > len(shown) else ""
            lines.append(f"would be {word}: {', '.join(mask(name) for name in shown)}{more}")
    return lines


@dataclass(frozen=True)
class Preflight:
    """What the dry run found: its outcome, its statistics, and the changes it itemized."""

    outcome: Outcome
    stats: TransferStats
    changes: Changes


async def preflight(
    job: Job,
    spec: TransferSpec,
    *,
    log: RunLog,
    deadline: float,
    stop_grace: float,
    cancel: asyncio.Event,
    changes: Changes,
) -> Preflight:
    """Run the job's transfer as a dry run that itemizes every change into `changes`; return what
    it found."""
    from backupplan.process.execute import run_process

    engine = get_engine(job.engine)
    dry = replace(spec, dry_run=True, itemize=True)
    parser = engine.parser(changes=changes)
    argv = engine.argv(dry)
    log.line("backupplan", f"guard: looking first with a dry run: {mask(' '.join(argv))}")
    started = time.monotonic()

    def on_record(record: bytes, stream: str) -> None:
        parser.feed(record, stream)  # type: ignore[arg-type]
        if not parser.last_was_progress:
            log.output(engine.name, readable(record))

    try:
        result = await run_process(
            argv,
            env=engine.environment(dry, os.environ),
            on_stdout=lambda record: on_record(record, "stdout"),
            on_stderr=lambda record: on_record(record, "stderr"),
            timeout=max(0.1, deadline - time.monotonic()),
            stop_grace=stop_grace,
            cancel=cancel,
        )
    except BackupplanError as error:
        return Preflight(Outcome("fatal", str(error), "install it, or check PATH"), TransferStats(), changes)
    stats = parser.stats()
    outcome = judge(engine, result, stats, allow_vanished=job.allow_vanished, remote_host=ssh_host(spec))
    log.line(
        "backupplan",
        f"guard: the dry run found {changes.added:,} to add, {changes.changed:,} to rewrite, "
        f"{changes.deleted:,} to delete ({time.monotonic() - started:.1f}s)",
    )
    return Preflight(outcome, stats, changes)
