"""Restore: copy a backup (a snapshot, or a job's mirror) back to a folder, with the job's engine.

Rules that keep a restore from doing harm:
- the target must not overlap the backup (inside it, or holding it): a restore never writes
  into the backup;
- a target that is not empty is refused unless forced, and even then nothing in it is deleted:
  files of the same name are replaced, others are left alone;
- `--path` restores one file or folder, at the same relative place under the target
  (`--path 2024/img.jpg --to /tmp/r` gives `/tmp/r/2024/img.jpg`).
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from backupplan.engines import Difference, Outcome, Progress, TransferSpec, TransferStats, get_engine, judge
from backupplan.engines.base import Stream
from backupplan.engines.ssh import ssh_host
from backupplan.errors import BackupplanError
from backupplan.plan.locations import contains, parse_location
from backupplan.plan.model import Job
from backupplan.runner.transfer import rsh_of, transfer_spec
from backupplan.snapshots import SnapshotError


class RestoreError(BackupplanError):
    """A restore was refused or cannot be done as asked."""


@dataclass(frozen=True)
class RestorePlan:
    """What a restore copies, from where to where, and how."""

    job_id: str
    engine: str
    origin: str  # for people: "snapshot 2026-11-28T020000Z of photos (/mnt/nas/photos/…)"
    snapshot: str | None
    target: Path
    spec: TransferSpec


def plan_restore(
    job_id: str,
    job: Job,
    base_dir: Path,
    *,
    target: Path,
    snapshot: str | None = None,
    subpath: str | None = None,
    force: bool = False,
) -> RestorePlan:
    """Given a job, an absolute target folder and what to restore, return the restore; raise
    RestoreError when it is refused (overlap with the backup, a non-empty target without `force`,
    a snapshot or path that does not exist)."""
    relative = clean_subpath(subpath) if subpath else None
    destination = parse_location(job.destination, job.engine, base_dir)
    target = Path(os.path.normpath(target))
    if destination.is_local:
        backup, place = os.path.realpath(destination.path), os.path.realpath(target)
        if contains(backup, place) or contains(place, backup):
            raise RestoreError(
                f"refusing to restore into {target}: it overlaps the backup {destination.path}, and a "
                "restore never writes into the backup; choose a folder outside it"
            )
    _check_target(target, force)
    chosen = None
    if job.snapshots is not None and job.engine == "rsync":
        chosen, root = _snapshot_folder(job, base_dir, snapshot)
        origin = f"snapshot {chosen} of {job_id} ({root})"
    elif job.versions is not None and job.engine == "rclone" and snapshot not in (None, "latest"):
        root = _version_folder(job_id, job, base_dir, snapshot, target)
        chosen = snapshot
        origin = (
            f"version {snapshot} of {job_id} (what that run replaced or deleted, as it was before it: {root})"
        )
    elif snapshot not in (None, "latest"):
        raise RestoreError(
            f"{job_id} keeps no snapshots, only its current copy at {job.destination}: "
            "leave --snapshot out to restore that"
        )
    else:
        root = destination.path if destination.is_local else (destination.operand or job.destination)
        origin = f"the copy of {job_id} at {root}"
    if relative is not None and destination.is_local:
        inside = os.path.join(os.fsencode(root), os.fsencode(relative))
        if not os.path.lexists(inside):
            raise RestoreError(f"there is no {relative} in {origin}: check --path (relative to the backup)")
    spec = TransferSpec(
        source=root.rstrip("/") + "/",
        destination=str(target),
        create_parents=True,
        preserve=job.preserve.kept(),  # bring back what the backup kept
        rsh=rsh_of(job, destination),
        env=dict(job.env),
    )
    if relative is not None:
        spec = _subpath_spec(job.engine, spec, root, relative, target)
        origin = f"{relative} from {origin}"
    return RestorePlan(job_id, job.engine, origin, chosen, target, spec)


def _snapshot_folder(job: Job, base_dir: Path, snapshot: str | None) -> tuple[str, str]:
    """The id of snapshot `snapshot` (`latest` or None: the newest) of a snapshot job, and its
    folder as rsync is to be given it (`user@host:/path/<id>` on a server); raise RestoreError when
    there is no such snapshot, or the server cannot be asked."""
    from backupplan.snapshots.place import read_snapshots
    from backupplan.snapshots.server import remote_of

    spec = transfer_spec(job, base_dir)
    try:
        listing = read_snapshots(spec)
        chosen = listing.resolve(snapshot)
    except SnapshotError as error:
        raise RestoreError(str(error)) from None
    remote = remote_of(spec)
    return chosen, remote.operand(chosen) if remote is not None else str(listing.path(chosen))


def _version_folder(job_id: str, job: Job, base_dir: Path, folder: str, target: Path) -> str:
    """The version folder `folder` of an rclone job with `versions:`, as rclone is to be given it;
    raise RestoreError when the name is not a version folder's, or the target overlaps the
    versions (local ones)."""
    from backupplan.snapshots.versions import backup_dir, parse_folder, versions_root

    if parse_folder(folder) is None:
        raise RestoreError(
            f"{folder!r} is not a version folder of {job_id}: they are named after their run's start, "
            f"like 20261128T020000Z (`backupplan snapshots {job_id}` lists them)"
        )
    root = versions_root(job, base_dir)
    if root.startswith("/"):
        versions, place = os.path.realpath(root), os.path.realpath(target)
        if contains(versions, place) or contains(place, versions):
            raise RestoreError(
                f"refusing to restore into {target}: it overlaps the versions {root}, and a restore "
                "never writes into the backup; choose a folder outside it"
            )
        if not os.path.isdir(backup_dir(root, folder)):
            raise RestoreError(
                f"{job_id} has no version folder {folder} in {root} "
                f"(`backupplan snapshots {job_id}` lists them)"
            )
    return backup_dir(root, folder)


def clean_subpath(text: str) -> str:
    """Given `--path` (relative to the top of the backup; a leading `/` means that top too), return
    it normalised; raise RestoreError when it is empty or leaves the backup (`..`)."""
    stripped = text.strip().strip("/")
    cleaned = posixpath.normpath(stripped) if stripped else ""
    if cleaned in ("", ".", "..") or cleaned.startswith("../"):
        raise RestoreError(
            f"--path {text!r} must name something inside the backup, relative to its top "
            "(like photos/2024 or notes.txt)"
        )
    return cleaned


def _check_target(target: Path, force: bool) -> None:
    if os.path.lexists(target) and not target.is_dir():
        raise RestoreError(f"{target} exists and is not a folder: choose a folder to restore into")
    if target.is_dir() and not force and any(os.scandir(target)):
        raise RestoreError(
            f"{target} is not empty: restoring there would replace files of the same name. Pass "
            "--force to do that (nothing in it is deleted), or restore into an empty folder"
        )


def _subpath_spec(engine: str, spec: TransferSpec, root: str, relative: str, target: Path) -> TransferSpec:
    if engine == "rsync":
        # `root/./a/b` with --relative recreates a/b under the target, and nothing above it.
        return replace(spec, source=f"{root.rstrip('/')}/./{relative}", extra_args=("--relative",))
    # rclone: copy the whole root through filters that let only the path (a file, or a folder and
    # everything below it) pass.
    return replace(spec, include=(f"/{relative}", f"/{relative}/**"), exclude=("*",))


@dataclass(frozen=True)
class RestoreResult:
    """How a restore (or its dry run) ended."""

    outcome: Outcome
    stats: TransferStats
    duration: float
    changes: list[Difference] = field(default_factory=list)  # a dry run's: what it would write
    errors: list[str] = field(default_factory=list)


async def run_restore(
    plan: RestorePlan,
    *,
    dry_run: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    on_output: Callable[[bytes], None] | None = None,
    cancel: asyncio.Event | None = None,
    stop_grace: float = 10.0,
) -> RestoreResult:
    """Run the restore (or, with `dry_run`, list what it would write, writing nothing); return how
    it ended. Raise EngineError when the program cannot be started."""
    from backupplan.process.execute import run_process

    engine = get_engine(plan.engine)
    started = time.monotonic()
    if dry_run:
        return await _dry_run(plan, started, cancel)
    parser = engine.parser()

    def on_record(record: bytes, stream: Stream) -> None:
        progress = parser.feed(record, stream)
        if progress is not None and on_progress is not None:
            on_progress(progress)
        if not parser.last_was_progress and on_output is not None:
            on_output(record)

    result = await run_process(
        engine.argv(plan.spec),
        env=engine.environment(plan.spec, os.environ),
        on_stdout=lambda record: on_record(record, "stdout"),
        on_stderr=lambda record: on_record(record, "stderr"),
        stop_grace=stop_grace,
        cancel=cancel,
    )
    stats = parser.stats()
    outcome = judge(engine, result, stats, remote_host=ssh_host(plan.spec))
    return RestoreResult(outcome, stats, time.monotonic() - started, errors=list(stats.error_messages))


async def _dry_run(plan: RestorePlan, started: float, cancel: asyncio.Event | None) -> RestoreResult:
    """Compare the backup with the target (an empty stand-in when the target does not exist yet, for
    rclone, whose check needs both sides) and list what a restore would write."""
    from backupplan.process.execute import run_process

    engine = get_engine(plan.engine)
    with tempfile.TemporaryDirectory(prefix="backupplan-restore-") as empty:
        spec = plan.spec
        if plan.engine == "rclone" and not plan.target.exists():
            spec = replace(spec, destination=empty)
        parser = engine.verify_parser()
        result = await run_process(
            engine.verify_argv(replace(spec, delete=False), "quick"),
            env=engine.environment(spec, os.environ),
            on_stdout=lambda record: parser.feed(record, "stdout"),
            on_stderr=lambda record: parser.feed(record, "stderr"),
            cancel=cancel,
        )
    changes = [item for item in parser.differences() if item.kind in ("missing", "changed")]
    outcome = engine.verify_outcome(result.exit_code, result.signal, parser)
    if outcome.kind == "fatal" and parser.differences() and not parser.errors():
        outcome = Outcome("ok", "dry run", "", result.exit_code)  # differences are the answer here
    return RestoreResult(outcome, TransferStats(), time.monotonic() - started, changes, parser.errors())
