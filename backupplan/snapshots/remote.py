"""Snapshots on a server reached over ssh (`user@host:path`, `ssh://user@host:port/path`).

The layout and the ids are those of local snapshots (snapshots.layout); what differs is who does
the work. rsync writes the new snapshot into `<id>.partial/` on the server and hard-links the
files that did not change to the newest snapshot with `--link-dest=../<newest>` (rsync resolves a
relative --link-dest against the destination folder: on the server, next to the new one). The
rest is a few short POSIX shell scripts, each one ssh command with the job's own ssh options
(engines.ssh: port, key, known_hosts, BatchMode):

- listing: `ls -1ap` of the destination and `readlink latest` (the destination is created, mode
  0700, when only it is missing, as locally);
- taking over an interrupted run's `.partial`: `mv` to the new id, and `find … -exec rm` of the
  `.name.XXXXXX` files a killed rsync leaves;
- promotion: `mv <id>.partial <id>` (atomic), then a new `latest` link under a temporary name moved
  over the old one with `mv -T`, so `latest` is replaced, never missing; the same command lists
  the destination again for retention;
- pruning: `mv <id> .trash-<id>` for each snapshot the policy drops, then, once that is journaled,
  `rm -rf` of the trash.

The scripts run through snapshots.server, which says what the server needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from backupplan.engines import TransferSpec, TransferStats
from backupplan.snapshots.layout import LATEST, PARTIAL_SUFFIX, Listing, next_id, trash_name
from backupplan.snapshots.links import missing_link_dest
from backupplan.snapshots.prune import PrunePlan, PruneResult
from backupplan.snapshots.server import (
    MOVED,
    RENAMED,
    Remote,
    RemoteError,
    batches,
    enter,
    failure,
    list_remote,
    listing_here,
    parse_listing,
    point_latest_lines,
    q,
    remove_on_server,
    run_on_server,
)
from backupplan.snapshots.stage import Created, Staging, attribute_changes, snapshot_spec

Say = Callable[[str], None]
# rsync's `.name.XXXXXX` temporaries, as a `find -name` pattern (stage.py's regular expression).
TEMPORARY_GLOB = ".?*." + "[A-Za-z0-9]" * 6


async def prepare_remote(
    spec: TransferSpec,
    remote: Remote,
    now: datetime,
    *,
    say: Say,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> Staging:
    """Given the job's transfer, its destination on a server and the time, set up the new
    snapshot (the listing, and the take-over of an interrupted run's `.partial`) and return it with
    the transfer to run: into `<id>.partial` with `--link-dest=../<newest>`. Raise RemoteError."""
    listing = await list_remote(remote, create=True, timeout=timeout, cancel=cancel)
    snapshot = next_id(now, (*listing.complete, *listing.partial))
    partial = f"{snapshot}{PARTIAL_SUFFIX}"
    base = listing.newest
    transfer = snapshot_spec(spec, remote.operand(partial), f"../{base}" if base else None)
    staged = Staging(Path(remote.path), snapshot, Path(remote.folder(partial)), base,
                     "link-dest" if base else "full", transfer, remote=remote)  # fmt: skip
    staged.trash = listing.trash
    if listing.partial:
        staged.resumed, staged.trash = await _take_over(remote, listing, snapshot, say, timeout, cancel)
        if base is not None:
            await _guard_in_place(staged, spec, say=say, timeout=timeout, cancel=cancel)
    elif base is None:
        say(f"snapshot {snapshot}: the first one, a full copy into {remote.operand(partial)}")
    else:
        say(f"snapshot {snapshot}: into {remote.operand(partial)}, unchanged files hard-linked to {base}")
    return staged


async def _take_over(
    remote: Remote,
    listing: Listing,
    snapshot: str,
    say: Say,
    timeout: float | None,
    cancel: asyncio.Event | None,
) -> tuple[str, tuple[str, ...]]:
    """Rename the newest `.partial` to the new snapshot's, move older ones to the trash, delete
    rsync's temporary files from it; return the id it had, and the trash folders there are now."""
    *older, newest = listing.partial
    taken = set(listing.trash)
    lines = [enter(remote)]
    for stale in older:
        trash = trash_name(f"{stale}{PARTIAL_SUFFIX}", taken.__contains__)
        taken.add(trash)
        lines.append(f"mv -- {q(stale + PARTIAL_SUFFIX)} {q(trash)} || exit 3")
    new = q(snapshot + PARTIAL_SUFFIX)
    lines += [
        f"mv -- {q(newest + PARTIAL_SUFFIX)} {new} || exit 3",
        f"echo {RENAMED}",
        f"find {new} -type f -name {q(TEMPORARY_GLOB)} -print -exec rm -f -- {{}} +",
    ]
    answer = await run_on_server(remote, "\n".join(lines), timeout=timeout, cancel=cancel)
    if RENAMED not in answer.output:
        raise failure(remote, answer, f"taking over {newest}{PARTIAL_SUFFIX} in {remote.operand()}")
    removed = len(answer.output) - answer.output.index(RENAMED) - 1
    say(
        f"snapshot {snapshot}: taking over {newest}{PARTIAL_SUFFIX} on {remote.host}, left by an "
        "interrupted run" + (f" ({removed} unfinished temporary file(s) removed)" if removed else "")
    )
    return newest, tuple(sorted(taken))


async def _guard_in_place(
    staged: Staging,
    spec: TransferSpec,
    *,
    say: Say,
    timeout: float | None,
    cancel: asyncio.Event | None,
) -> None:
    """A taken-over `.partial` may hold hard links to the newest snapshot: rsync would change the
    attributes of such a file in place, and so in that snapshot too. So the files whose attributes
    alone changed are removed from it first (rsync then writes them anew); when that cannot be
    known, the `.partial` goes to the trash and the snapshot starts afresh."""
    remote = staged.remote
    assert remote is not None
    partial = f"{staged.id}{PARTIAL_SUFFIX}"
    changed = await attribute_changes(spec, remote.operand(partial), timeout, cancel)
    if changed is None:
        trash = trash_name(partial, set(staged.trash).__contains__)
        staged.trash = (*staged.trash, trash)
        script = f"{enter(remote)}\nmv -- {q(partial)} {q(trash)}"
        answer = await run_on_server(remote, script, timeout=timeout, cancel=cancel)
        if answer.exit_code != 0:
            raise failure(remote, answer, f"moving {partial} to the trash")
        say("could not compare the source with the unfinished snapshot: starting it afresh")
        return
    if not changed:
        return
    removed = 0
    for group in batches(changed):
        script = f"{enter(remote)}\ncd -- {q(partial)} || exit 3\nrm -f -- {' '.join(map(q, group))}"
        answer = await run_on_server(remote, script, timeout=timeout, cancel=cancel)
        if answer.exit_code != 0:
            raise failure(remote, answer, f"unlinking files from {partial}")
        removed += len(group)
    staged.unlinked = frozenset(changed)
    say(f"{removed} file(s) changed only their attributes: removed from {partial} before the transfer")


async def promote_remote(
    staging: Staging,
    stats: TransferStats,
    *,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> Created:
    """Given a `.partial` the transfer completed on the server, rename it to its id and repoint
    `latest`, in one ssh command; return the snapshot. Raise RemoteError when the rename did not
    happen (the `.partial` then stays for the next run, and `latest` is untouched)."""
    remote = staging.remote
    assert remote is not None
    partial, snapshot = f"{staging.id}{PARTIAL_SUFFIX}", staging.id
    script = "\n".join([
        enter(remote),
        f"rm -rf -- {q(posixpath.join(partial, staging.spec.partial_dir))}",
        f"if [ -e {q(snapshot)} ] || [ -L {q(snapshot)} ]; then echo exists already >&2; exit 3; fi",
        f"mv -- {q(partial)} {q(snapshot)} || exit 3",
        f"echo {RENAMED}",
        *point_latest_lines(snapshot, "exit 4"),
        # what retention then needs (no second login for it); its failure is not the promotion's
        "(", *listing_here(), ") || :",
    ])  # fmt: skip
    answer = await run_on_server(remote, script, timeout=timeout, cancel=cancel)
    if RENAMED not in answer.output:
        raise failure(remote, answer, f"renaming {partial} to {snapshot} in {remote.operand()}")
    problems = []
    if answer.exit_code != 0:
        problems.append(str(failure(remote, answer, f"pointing {remote.operand(LATEST)} at {snapshot}")))
    else:
        with contextlib.suppress(RemoteError):
            staging.listed = parse_listing(remote, answer.output)
    missing = missing_link_dest(stats.warnings)
    if missing and staging.base is not None:
        problems.append(f"snapshot {snapshot} may be a full copy: rsync: {missing}")
    return Created(
        snapshot,
        Path(remote.folder(snapshot)),
        staging.base,
        staging.method,
        stats.total_files,
        stats.total_bytes,
        "; ".join(problems) or None,
        remote.operand(snapshot),
    )


async def discard_remote(
    staging: Staging, *, timeout: float | None = None, cancel: asyncio.Event | None = None
) -> str | None:
    """Delete a snapshot being made on the server (a held run's): moved to the trash, then removed.
    Return an error, or None."""
    remote = staging.remote
    assert remote is not None
    partial = f"{staging.id}{PARTIAL_SUFFIX}"
    trash = trash_name(partial, lambda name: False)
    script = f"{enter(remote)}\nmv -- {q(partial)} {q(trash)} || exit 3\nrm -rf -- {q(trash)}"
    try:
        answer = await run_on_server(remote, script, timeout=timeout, cancel=cancel)
    except RemoteError as error:
        return str(error)
    return None if answer.exit_code == 0 else str(failure(remote, answer, f"discarding {partial}"))


async def prune_remote(
    plan: PrunePlan,
    listing: Listing,
    remote: Remote,
    *,
    on_moved: Callable[[PrunePlan], object],
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> PruneResult:
    """As snapshots.prune.prune, on the server: move the snapshots `plan` removes to the trash and
    repoint `latest` at the newest when it points elsewhere (one ssh command), call
    `on_moved(plan)` (the caller journals it), then delete every trash folder."""
    taken = set(listing.trash)
    moves = []
    for snapshot in plan.remove:
        trash = trash_name(snapshot, taken.__contains__)
        taken.add(trash)
        moves.append((snapshot, trash))
    lines = [enter(remote)]
    for snapshot, trash in moves:
        lines.append(
            f"if [ -d {q(snapshot)} ] && [ ! -L {q(snapshot)} ]; then mv -- {q(snapshot)} {q(trash)} "
            f"|| exit 3; echo {q(MOVED + snapshot)}; fi"
        )
    newest = listing.newest
    if newest is not None and listing.latest != newest:  # the newest is never pruned
        lines += point_latest_lines(newest, "exit 4")
    moved: list[str] = []
    error = None
    if len(lines) > 1:
        try:
            answer = await run_on_server(remote, "\n".join(lines), timeout=timeout, cancel=cancel)
        except RemoteError as failed:
            return PruneResult((), 0, str(failed))
        moved = [line[len(MOVED) :] for line in answer.output if line.startswith(MOVED)]
        if answer.exit_code != 0:
            error = str(failure(remote, answer, f"moving old snapshots in {remote.operand()} to the trash"))
    if moved:
        on_moved(PrunePlan(plan.destination, tuple(moved), plan.kept))
    emptied = sorted({*listing.trash, *(name for snapshot, name in moves if snapshot in moved)})
    deleted, trash_error = await remove_on_server(remote, ".", emptied, timeout=timeout, cancel=cancel)
    return PruneResult(tuple(moved), deleted, error or trash_error)
