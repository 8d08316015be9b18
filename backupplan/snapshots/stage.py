"""Making one snapshot: the staging folder before the transfer, its promotion after it.

The method (docs/snapshots.md has the measurements):

1. The new snapshot is written into `<id>.partial/`. A `.partial` left by an interrupted run is
   taken over (renamed to the new id) and cleaned of rsync's temporary files; otherwise the
   newest complete snapshot is cloned into it with hard links (`cp -al`, as rsnapshot does:
   on 20,000 files 3-4x faster than rsync's own `--link-dest`).
2. rsync then brings the clone up to date with `--delete --delete-excluded`. It replaces a changed
   file by writing a new one and renaming it into place, so the shared inode, and the older
   snapshot holding it, are untouched. But a file whose content is unchanged and whose
   permissions, owner, group, ACLs or xattrs changed would be updated *in place*, through the
   shared inode, changing the older snapshot too (rsnapshot's known flaw). So, while `cp -al`
   runs, an rsync dry run lists such files against the snapshot being cloned; they are unlinked
   from the clone before the transfer, and rsync writes them anew.
3. Without a clone (a taken-over `.partial`, or a clone that failed) rsync links unchanged files
   with `--link-dest` to the newest snapshot instead, which never writes through a shared inode.
4. After a successful transfer the `.partial` is renamed to `<id>` and `latest` repointed, each
   step atomic. A sample of unchanged files is checked for shared inodes: a snapshot that silently
   became a full copy (rsync makes one when `--link-dest` is missing or on another filesystem)
   makes the run a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupplan.engines import TransferSpec, TransferStats, get_engine
from backupplan.errors import BackupplanError
from backupplan.fsutil import fsync_dir
from backupplan.snapshots.layout import (
    Listing,
    SnapshotError,
    next_id,
    point_latest,
    read_listing,
    trash_path,
)
from backupplan.snapshots.links import link_problem

if TYPE_CHECKING:
    from backupplan.snapshots.server import Remote

_RSYNC_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")  # rsync's `.name.XXXXXX` while it writes

Say = Callable[[str], None]


@dataclass
class Staging:
    """A snapshot being made: where it is written and how the transfer must be run."""

    destination: Path
    id: str
    path: Path
    base: str | None  # the complete snapshot it was cloned from or is linked to
    method: str  # clone, link-dest (no clone: rsync links) or full (no earlier snapshot)
    spec: TransferSpec
    resumed: str | None = None  # id of the interrupted run's .partial that was taken over
    notes: list[str] = field(default_factory=list)
    # Files unlinked from the clone because only their attributes changed: rsync writes them anew,
    # which its itemized list shows as added, though they are not.
    unlinked: frozenset[str] = frozenset()
    remote: Remote | None = None  # the server, when the destination is reached over ssh
    trash: tuple[str, ...] = ()  # on a server: the trash folders known when staging, emptied after
    # on a server: the destination as listed by the promotion's own ssh command (retention needs
    # no other); None when it was not listed
    listed: Listing | None = None


@dataclass(frozen=True)
class Created:
    """A promoted snapshot, and what its journal record says."""

    id: str
    path: Path
    linked_to: str | None
    method: str
    files: int | None
    bytes: int | None
    problem: str | None = None  # set when the snapshot is not what it should be (a full copy…)
    location: str | None = None  # `user@host:/path/<id>` for a snapshot on a server

    @property
    def where(self) -> str:
        """The snapshot's folder as rsync and people name it."""
        return self.location or str(self.path)

    def describe(self) -> str:
        if self.linked_to is None:
            return "a full copy: there was no earlier snapshot"
        if self.method == "clone":
            return f"cloned from {self.linked_to} with hard links, then updated"
        return f"unchanged files hard-linked to {self.linked_to} by rsync"

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.where,
            "linked_to": self.linked_to,
            "method": self.method,
            "files": self.files,
            "bytes": self.bytes,
        }


def snapshot_spec(spec: TransferSpec, destination: Path | str, link_dest: Path | str | None) -> TransferSpec:
    """Given the job's transfer, return the transfer into a snapshot folder: everything the job
    selects, nothing else (`--delete --delete-excluded`, as rsnapshot does, so that a pattern
    excluded later does not live on in every clone), and rsync's partial folder protected from
    that deletion."""
    extra = ("--delete-excluded", f"--filter=P /{spec.partial_dir}/")
    return replace(
        spec,
        destination=str(destination),
        delete=True,
        link_dest=None if link_dest is None else str(link_dest),
        extra_args=(*extra, *(argument for argument in spec.extra_args if argument not in extra)),
    )


def ensure_destination(destination: Path) -> None:
    """Create the destination folder when only it is missing (0700: backups hold private files);
    raise SnapshotError when its parent is missing too, which usually means a disk is not mounted
    (creating it would fill the disk under the mount point)."""
    if destination.is_dir():
        return
    if not destination.parent.is_dir():
        raise SnapshotError(
            f"the destination's parent folder {destination.parent} does not exist: is the disk "
            "mounted? (backupplan does not create it, so that a backup never fills the system disk)"
        )
    try:
        destination.mkdir(mode=0o700)
    except FileExistsError:
        if not destination.is_dir():
            raise SnapshotError(f"the destination {destination} exists and is not a folder") from None
    except OSError as error:
        raise SnapshotError(f"cannot create {destination}: {error.strerror or error}") from None


async def prepare(
    spec: TransferSpec,
    destination: Path,
    now: datetime,
    *,
    say: Say,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> Staging:
    """Given the job's transfer, its local destination folder and the time, set up the staging
    folder of a new snapshot and return it with the transfer to run; raise SnapshotError when the
    destination cannot hold it."""
    ensure_destination(destination)
    listing = read_listing(destination)
    snapshot = next_id(now, (*listing.complete, *listing.partial))
    staging = listing.partial_path(snapshot)
    base = listing.newest
    base_path = listing.path(base) if base is not None else None
    if listing.partial:
        resumed = _take_over(listing, snapshot, say)
        staged = Staging(destination, snapshot, staging, base, "link-dest" if base else "full",
                         snapshot_spec(spec, staging, base_path), resumed)  # fmt: skip
        if base is not None:
            await _guard_in_place(staged, spec, say=say, timeout=timeout, cancel=cancel)
        return staged
    if base_path is None:
        _make_folder(staging)
        say(f"snapshot {snapshot}: the first one, a full copy into {staging.name}")
        return Staging(destination, snapshot, staging, None, "full", snapshot_spec(spec, staging, None))
    clone_job = _clone(base_path, staging, say=say, timeout=timeout, cancel=cancel)
    guard_job = attribute_changes(spec, base_path, timeout, cancel)
    clone_error, changed = await asyncio.gather(clone_job, guard_job)
    if clone_error is None and changed is not None:
        removed = _unlink(staging, changed, shared_only=False)
        if removed:
            say(f"{len(removed)} file(s) changed only their attributes: unlinked from the clone, so "
                f"that rsync writes them anew instead of changing them in {base}")  # fmt: skip
        say(f"snapshot {snapshot}: cloned {base} with hard links into {staging.name}")
        return Staging(destination, snapshot, staging, base, "clone", snapshot_spec(spec, staging, None),
                       unlinked=frozenset(removed))  # fmt: skip
    if clone_error is not None:
        say(f"could not clone {base} ({clone_error}): rsync links unchanged files with --link-dest")
    linked = snapshot_spec(spec, staging, base_path)
    staged = Staging(destination, snapshot, staging, base, "link-dest", linked)
    staging.mkdir(mode=0o700, exist_ok=True)
    await _guard_in_place(staged, spec, say=say, timeout=timeout, cancel=cancel)
    return staged


def _take_over(listing: Listing, snapshot: str, say: Say) -> str:
    """Rename the newest `.partial` to the new snapshot's, move older ones to the trash, delete
    rsync's temporary files from it; return the id it had."""
    *older, newest = listing.partial
    for stale in older:
        _rename(listing.partial_path(stale), trash_path(listing.destination, f"{stale}.partial"))
    _rename(listing.partial_path(newest), listing.partial_path(snapshot))
    fsync_dir(listing.destination)
    removed = remove_rsync_temporaries(listing.partial_path(snapshot))
    say(
        f"snapshot {snapshot}: taking over {newest}.partial, left by an interrupted run"
        + (f" ({removed} unfinished temporary file(s) removed)" if removed else "")
    )
    return newest


async def _guard_in_place(
    staged: Staging, spec: TransferSpec, *, say: Say, timeout: float | None, cancel: asyncio.Event | None
) -> None:
    """Before rsync runs into a folder whose files may share inodes with a complete snapshot, unlink
    the shared ones whose attributes alone changed; when that cannot be known, start afresh."""
    changed = await attribute_changes(spec, staged.path, timeout, cancel)
    if changed is None:
        _rename(staged.path, trash_path(staged.destination, f"{staged.id}.partial"))
        _make_folder(staged.path)
        say("could not compare the source with the unfinished snapshot: starting it afresh")
        return
    removed = _unlink(staged.path, changed, shared_only=True)
    staged.unlinked = frozenset(removed)
    if removed:
        say(f"{len(removed)} shared file(s) changed only their attributes: unlinked before the transfer")


async def _clone(
    base: Path, staging: Path, *, say: Say, timeout: float | None, cancel: asyncio.Event | None
) -> str | None:
    """Clone `base` into `staging` (absent) with hard links; return None, or what went wrong."""
    from backupplan.process.execute import run_process

    errors: list[str] = []
    try:
        result = await run_process(
            ("cp", "-al", "--no-target-directory", "--", str(base), str(staging)),
            env=dict(os.environ),
            on_stderr=lambda record: errors.append(record.decode("utf-8", "backslashreplace")),
            timeout=timeout,
            cancel=cancel,
        )
    except BackupplanError as error:
        return str(error)
    if result.exit_code == 0:
        return None
    if result.cancelled or result.timed_out:
        return "stopped before it finished"
    first = errors[0] if errors else f"exit {result.exit_code}"
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    return f"{first}{more}"


async def attribute_changes(
    spec: TransferSpec, against: Path | str, timeout: float | None, cancel: asyncio.Event | None
) -> list[str] | None:
    """Run a dry run of the job's transfer `spec` into `against` and return the non-folder entries
    whose attributes alone differ: rsync would change those in place. None when the dry run failed,
    so that the answer is unknown. Deletions do not matter here: the dry run leaves them out, which
    spares it reading every folder of `against` for them (a fifth of its time on 20,000 files)."""
    from backupplan.process.execute import run_process

    engine = get_engine("rsync")
    parser = engine.verify_parser()
    spec = replace(spec, destination=str(against), delete=False, link_dest=None)
    try:
        result = await run_process(
            engine.verify_argv(spec, "quick"),
            env=engine.environment(spec, os.environ),
            on_stdout=lambda record: parser.feed(record, "stdout"),
            on_stderr=lambda record: parser.feed(record, "stderr"),
            timeout=timeout,
            cancel=cancel,
        )
    except BackupplanError:
        return None
    if result.exit_code not in (0, 24):
        return None
    return [
        difference.path
        for difference in parser.differences()
        if difference.kind == "metadata" and not difference.path.endswith("/")
    ]


def _unlink(folder: Path, relative_paths: list[str], *, shared_only: bool) -> list[str]:
    removed = []
    for relative in relative_paths:
        path = os.path.join(os.fsencode(folder), os.fsencode(relative))
        try:
            status = os.lstat(path)
            if shared_only and status.st_nlink < 2:
                continue
            os.unlink(path)
            removed.append(relative)
        except OSError:
            continue
    return removed


def discard(staging: Staging) -> None:
    """Move a snapshot being made to the trash (a held run's): the last snapshot stays as it was,
    and the next run starts a new one; the trash is emptied by the next prune."""
    _rename(staging.path, trash_path(staging.destination, f"{staging.id}.partial"))
    fsync_dir(staging.destination)


def remove_rsync_temporaries(folder: Path) -> int:
    """Delete the `.name.XXXXXX` files a killed rsync leaves where it was writing; return how many."""
    removed = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            if _RSYNC_TEMPORARY.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
                    removed += 1
    return removed


def promote(staging: Staging, stats: TransferStats) -> Created:
    """Given a staging folder the transfer completed, rename it to its final name, repoint `latest`
    and check that it shares its unchanged files with the snapshot it was linked to; return the
    snapshot. Raise SnapshotError when the rename fails (the snapshot then stays `.partial`)."""
    leftover = staging.path / staging.spec.partial_dir
    if leftover.is_dir() and not leftover.is_symlink():
        shutil.rmtree(leftover, ignore_errors=True)
    final = staging.destination / staging.id
    try:
        os.rename(staging.path, final)
        fsync_dir(staging.destination)
    except OSError as error:
        raise SnapshotError(
            f"cannot rename {staging.path.name} to {final.name} in {staging.destination}: "
            f"{error.strerror or error}"
        ) from None
    problems = []
    try:
        point_latest(staging.destination, staging.id)
    except OSError as error:
        problems.append(
            f"cannot point {staging.destination}/latest at {staging.id}: {error.strerror or error}"
        )
    base = staging.destination / staging.base if staging.base is not None else None
    link = link_problem(final, base, stats.warnings)
    if link:
        problems.append(link)
    return Created(
        staging.id,
        final,
        staging.base,
        staging.method,
        stats.total_files,
        stats.total_bytes,
        "; ".join(problems) or None,
    )


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(mode=0o700)
    except OSError as error:
        raise SnapshotError(f"cannot create {path}: {error.strerror or error}") from None


def _rename(source: Path, target: Path) -> None:
    try:
        os.rename(source, target)
    except OSError as error:
        raise SnapshotError(f"cannot rename {source} to {target.name}: {error.strerror or error}") from None
