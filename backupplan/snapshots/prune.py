"""Retention: which snapshots go, and removing them so that a crash never leaves half a snapshot.

A snapshot is removed in two steps. First it is renamed to `.trash-<id>` (atomic): from then on
it is no snapshot, whatever happens. The removal is journaled (`snapshot.pruned`, with why every
other snapshot was kept), and only then is the trash deleted. A delete killed half way leaves a
half tree under a trash name only, and the next prune (or run) deletes it. `rm -rf` does the
deleting, one process per core: unlinking hundreds of thousands of hard links is kernel work that
spreads over cores.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from backupplan.errors import BackupplanError
from backupplan.fsutil import fsync_dir
from backupplan.plan.model import Keep
from backupplan.snapshots.layout import Listing, parse_id, point_latest, read_listing, trash_path
from backupplan.snapshots.retention import retained

RM_BATCH = 256  # trash folders per `rm` command line
RM_WORKERS = min(4, os.cpu_count() or 1)  # `rm` processes at once


@dataclass(frozen=True)
class PrunePlan:
    """What a retention policy does to a destination: the ids to remove (oldest first) and, for
    every id kept, the rules that keep it (newest first)."""

    destination: Path
    remove: tuple[str, ...]
    kept: dict[str, list[str]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The `snapshot.pruned` journal record's data."""
        return {"ids": list(self.remove), "kept": self.kept}


@dataclass(frozen=True)
class PruneResult:
    removed: tuple[str, ...]
    deleted: int  # trash folders deleted (this prune's and stale ones)
    error: str | None = None


def plan_prune(listing: Listing, keep: Keep, timezone: tzinfo) -> PrunePlan:
    """Given the snapshots of a destination and a `keep:` policy (buckets in `timezone`), return
    what to remove. The newest complete snapshot is always kept."""
    times = {moment: snapshot for snapshot in listing.complete if (moment := parse_id(snapshot))}
    reasons = retained(times, keep, timezone)
    kept = {times[moment]: reasons[moment] for moment in sorted(reasons, reverse=True)}
    remove = tuple(snapshot for snapshot in listing.complete if snapshot not in kept)
    assert listing.newest is None or listing.newest not in remove
    return PrunePlan(listing.destination, remove, kept)


async def prune(
    plan: PrunePlan,
    *,
    on_moved: Callable[[PrunePlan], object],
    timeout: float | None = None,
) -> PruneResult:
    """Move the snapshots `plan` removes to the trash, call `on_moved(plan)` (the caller journals
    it), repoint `latest` at the newest snapshot if it points elsewhere, then delete every trash
    folder. Return what was removed, and the error when something could not be."""
    destination = plan.destination
    moved: list[str] = []
    error = None
    for snapshot in plan.remove:
        try:
            os.rename(destination / snapshot, trash_path(destination, snapshot))
        except FileNotFoundError:
            continue  # gone already (removed by hand, or by a prune that was killed)
        except OSError as failure:
            error = f"cannot move {destination / snapshot} to the trash: {failure.strerror or failure}"
            break
        moved.append(snapshot)
    if moved:
        fsync_dir(destination)
        on_moved(PrunePlan(destination, tuple(moved), plan.kept))
    listing = read_listing(destination)
    if listing.newest is not None and listing.latest != listing.newest:
        try:
            point_latest(destination, listing.newest)
        except OSError as failure:
            error = error or f"cannot point {destination}/latest at {listing.newest}: {failure}"
    deleted, trash_error = await empty_trash(destination, timeout=timeout, names=listing.trash)
    return PruneResult(tuple(moved), deleted, error or trash_error)


async def empty_trash(
    destination: Path, *, timeout: float | None = None, names: Iterable[str] | None = None
) -> tuple[int, str | None]:
    """Delete every `.trash-…` folder of `destination` (`names`, when the caller has just listed
    them), with one `rm` per core at once (unlinking is kernel work that spreads over cores: two
    `rm` delete 365 small snapshots in about 0.7 s where one takes 0.95 s). Return how many were
    deleted, and an error (or None)."""
    names = list(read_listing(destination).trash if names is None else names)
    workers = max(1, min(RM_WORKERS, len(names)))
    shares = [names[index::workers] for index in range(workers)]
    results = await asyncio.gather(*(_remove(destination, share, timeout) for share in shares))
    errors = [error for _, error in results if error]
    return sum(count for count, _ in results), errors[0] if errors else None


async def _remove(destination: Path, names: list[str], timeout: float | None) -> tuple[int, str | None]:
    from backupplan.process.execute import run_process

    errors: list[str] = []
    for start in range(0, len(names), RM_BATCH):
        batch = [str(destination / name) for name in names[start : start + RM_BATCH]]
        try:
            result = await run_process(
                ("rm", "-rf", "--one-file-system", "--", *batch),
                env=dict(os.environ),
                on_stderr=lambda record: errors.append(record.decode("utf-8", "backslashreplace")),
                timeout=timeout,
            )
        except BackupplanError as failure:
            return start, str(failure)
        if result.exit_code != 0:
            detail = errors[0] if errors else f"rm exited {result.exit_code}"
            return start, f"cannot delete the trash in {destination}: {detail}"
    return len(names), None
