"""Each step of a job's snapshots, wherever they are: in a local folder (snapshots.stage,
snapshots.prune) or on a server reached over ssh (snapshots.remote). The runner and the commands
call these and need not know which it is; the layout, the ids and the retention rules are the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

from backupplan.engines import TransferSpec, TransferStats
from backupplan.plan.model import Keep
from backupplan.snapshots.layout import Listing, read_listing
from backupplan.snapshots.prune import PrunePlan, PruneResult, empty_trash, plan_prune, prune
from backupplan.snapshots.remote import discard_remote, prepare_remote, promote_remote, prune_remote
from backupplan.snapshots.server import Remote, list_remote, remote_of, remove_on_server
from backupplan.snapshots.stage import Created, Staging, discard, prepare, promote

Say = Callable[[str], None]


async def stage(
    spec: TransferSpec,
    now: datetime,
    *,
    say: Say,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> Staging:
    """Given a snapshot job's transfer and the time, set up its new snapshot (see prepare and
    prepare_remote); raise SnapshotError when the destination cannot hold it."""
    remote = remote_of(spec)
    if remote is None:
        return await prepare(spec, Path(spec.destination), now, say=say, timeout=timeout, cancel=cancel)
    return await prepare_remote(spec, remote, now, say=say, timeout=timeout, cancel=cancel)


async def complete(
    staging: Staging,
    stats: TransferStats,
    *,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> Created:
    """Promote a snapshot whose transfer succeeded; raise SnapshotError when it stays `.partial`."""
    if staging.remote is None:
        return promote(staging, stats)
    return await promote_remote(staging, stats, timeout=timeout, cancel=cancel)


async def drop(staging: Staging, *, timeout: float | None = None) -> str | None:
    """Delete a snapshot being made (a held run's): the last one stays as it was. Return an error
    (the `.partial` then stays in the trash), or None."""
    if staging.remote is not None:
        return await discard_remote(staging, timeout=timeout)
    discard(staging)
    _, error = await empty_trash(staging.destination, timeout=timeout)
    return error


async def tidy(
    staging: Staging,
    keep: Keep | None,
    timezone: tzinfo,
    *,
    on_moved: Callable[[PrunePlan], object],
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> PruneResult:
    """After a snapshot is complete: apply `keep` to the destination read again, or, without one,
    empty the trash (on a server, only the trash this run knows of: no listing for that)."""
    remote = staging.remote
    if remote is None:
        listing = read_listing(staging.destination)
    elif keep is None:
        listing = Listing(staging.destination, trash=staging.trash, login=remote.login)
    else:
        listing = staging.listed or await list_remote(remote, timeout=timeout, cancel=cancel)
    return await retain(listing, keep, timezone, remote, on_moved=on_moved, timeout=timeout, cancel=cancel)


async def listing_of(
    spec: TransferSpec, *, timeout: float | None = None, cancel: asyncio.Event | None = None
) -> Listing:
    """What the destination of a snapshot job's transfer holds; raise SnapshotError."""
    remote = remote_of(spec)
    if remote is None:
        return read_listing(Path(spec.destination))
    return await list_remote(remote, timeout=timeout, cancel=cancel)


def read_snapshots(spec: TransferSpec, timeout: float | None = None) -> Listing:
    """`listing_of`, for commands (outside an event loop)."""
    return asyncio.run(listing_of(spec, timeout=timeout))


async def retain(
    listing: Listing,
    keep: Keep | None,
    timezone: tzinfo,
    remote: Remote | None,
    *,
    on_moved: Callable[[PrunePlan], object],
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> PruneResult:
    """Apply `keep` (buckets in `timezone`) to the snapshots of `listing`, on the server when
    `remote` is given; without `keep`, only the trash is emptied."""
    if keep is None:
        if remote is not None:
            deleted, error = await remove_on_server(
                remote, ".", listing.trash, timeout=timeout, cancel=cancel
            )
        else:
            deleted, error = await empty_trash(listing.destination, timeout=timeout, names=listing.trash)
        return PruneResult((), deleted, error)
    plan = plan_prune(listing, keep, timezone)
    if remote is None:
        return await prune(plan, on_moved=on_moved, timeout=timeout)
    return await prune_remote(plan, listing, remote, on_moved=on_moved, timeout=timeout, cancel=cancel)
