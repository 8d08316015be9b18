"""`backupplan snapshots JOB [--json]` and `backupplan snapshots JOB --prune [--dry-run]`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
import orjson

from backupplan.errors import BackupplanError
from backupplan.snapshots.layout import parse_id
from backupplan.units import format_size

if TYPE_CHECKING:
    from backupplan.engines import TransferSpec
    from backupplan.plan.load import LoadedPlan
    from backupplan.plan.model import Keep
    from backupplan.snapshots import Listing, PrunePlan, PruneResult
    from backupplan.snapshots.versions import Version, VersionsPrune, VersionsPruned

SNAPSHOTS_FORMAT = 1


def snapshot_place(loaded: LoadedPlan, job_id: str) -> TransferSpec:
    """Given a job of the plan, return its transfer, whose destination holds its snapshots (a local
    folder, or one on a server reached over ssh); raise BackupplanError when the job keeps none."""
    from backupplan.plan.locations import parse_location
    from backupplan.runner.transfer import transfer_spec

    job = loaded.jobs[job_id]
    destination = parse_location(job.destination, job.engine, loaded.base_dir)
    if job.snapshots is None or job.engine != "rsync" or destination.kind not in ("local", "ssh"):
        raise BackupplanError(
            f"{job_id} keeps no snapshots: it has one copy, at {job.destination} (add `snapshots:` "
            "to an rsync job with a local or ssh destination to keep dated snapshots)"
        )
    return transfer_spec(job, loaded.base_dir)


def snapshots_command(plan_path: str, job_id: str, *, prune: bool, dry_run: bool, as_json: bool) -> int:
    """List a job's snapshots, or apply its retention now (`prune`), or show what that would do."""
    from backupplan.commands.run import check_job_ids
    from backupplan.plan.load import load_plan
    from backupplan.snapshots.place import read_snapshots

    if dry_run and not prune:
        raise click.UsageError("--dry-run goes with --prune: `backupplan snapshots JOB --prune --dry-run`")
    loaded = load_plan(plan_path)
    check_job_ids(loaded, [job_id])
    job = loaded.jobs[job_id]
    if job.engine == "rclone" and job.versions is not None:
        return versions_command(loaded, job_id, prune=prune, dry_run=dry_run, as_json=as_json)
    spec = snapshot_place(loaded, job_id)
    listing = read_snapshots(spec)
    if prune:
        return _prune(loaded, job_id, spec, listing, dry_run=dry_run)
    for line in listing_lines(loaded, job_id, listing, as_json=as_json):
        click.echo(line)
    return 0


def listing_lines(loaded: LoadedPlan, job_id: str, listing: Listing, *, as_json: bool = False) -> list[str]:
    """The listing as printed: a table of snapshots, then leftovers (or the JSON document)."""
    from backupplan.snapshots import measure

    if listing.login is not None:
        return remote_listing_lines(loaded, job_id, listing, as_json=as_json)
    measurement = measure(listing)
    newest = listing.newest
    if as_json:
        document = {
            "format": SNAPSHOTS_FORMAT,
            "job": job_id,
            "destination": str(listing.destination),
            "snapshots": [
                {
                    "id": usage.id,
                    "time": usage.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "files": usage.files,
                    "bytes": usage.bytes,
                    "unique_bytes": usage.unique_bytes,
                    "latest": usage.id == newest,
                }
                for usage in measurement.snapshots
            ],
            "distinct_bytes": measurement.distinct_bytes,
            "partial": [f"{snapshot}.partial" for snapshot in listing.partial],
            "trash": list(listing.trash),
        }
        return [orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()]
    from backupplan.commands.status import table

    zone = loaded.timezone
    lines = [f"Snapshots of {job_id} in {listing.destination}:", ""]
    if measurement.snapshots:
        rows = [
            [
                usage.id,
                usage.time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                str(usage.files),
                format_size(usage.bytes),
                format_size(usage.unique_bytes),
                "latest" if usage.id == newest else "",
            ]
            for usage in measurement.snapshots
        ]
        lines += table(["ID", "TAKEN", "FILES", "SIZE", "UNIQUE", ""], rows)
        count = len(measurement.snapshots)
        lines += [
            "",
            f"{count} snapshot{'s' if count != 1 else ''}, {format_size(measurement.distinct_bytes)} of "
            f"files together (shared files counted once). Times in {zone}; UNIQUE is what removing "
            "that snapshot would free.",
        ]
    else:
        lines.append("No complete snapshot yet.")
    return lines + leftover_lines(listing)


def leftover_lines(listing: Listing) -> list[str]:
    """What is in the destination besides complete snapshots: unfinished runs and trash."""
    lines = [
        f"Unfinished: {snapshot}.partial (an interrupted run: not a snapshot; the next run completes it)"
        for snapshot in listing.partial
    ]
    return lines + [
        f"Trash: {name} (a prune that was interrupted: deleted at the next run or prune)"
        for name in listing.trash
    ]


def remote_listing_lines(loaded: LoadedPlan, job_id: str, listing: Listing, *, as_json: bool) -> list[str]:
    """The snapshots on a server, listed with one ssh command: ids, times and `latest`; their files
    and sizes are not measured there (it would mean walking every snapshot on the server)."""
    newest = listing.newest
    snapshots = [(snapshot, parse_id(snapshot)) for snapshot in listing.complete]
    if as_json:
        document = {
            "format": SNAPSHOTS_FORMAT,
            "job": job_id,
            "destination": listing.where,
            "snapshots": [
                {
                    "id": snapshot,
                    "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None,
                    "files": None,
                    "bytes": None,
                    "unique_bytes": None,
                    "latest": snapshot == newest,
                }
                for snapshot, moment in snapshots
            ],
            "distinct_bytes": None,
            "partial": [f"{snapshot}.partial" for snapshot in listing.partial],
            "trash": list(listing.trash),
        }
        return [orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()]
    from backupplan.commands.status import table

    zone = loaded.timezone
    lines = [f"Snapshots of {job_id} in {listing.where}:", ""]
    if snapshots:
        rows = [
            [snapshot, moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else "",
             "latest" if snapshot == newest else ""]
            for snapshot, moment in snapshots
        ]  # fmt: skip
        lines += table(["ID", "TAKEN", ""], rows)
        count = len(snapshots)
        lines += [
            "",
            f"{count} snapshot{'s' if count != 1 else ''}. Times in {zone}; files and sizes are not "
            "measured on a remote destination.",
        ]
    else:
        lines.append("No complete snapshot yet.")
    return lines + leftover_lines(listing)


def _prune(loaded: LoadedPlan, job_id: str, spec: TransferSpec, listing: Listing, *, dry_run: bool) -> int:
    from backupplan.snapshots import plan_prune
    from backupplan.snapshots.place import read_snapshots, retain
    from backupplan.snapshots.server import remote_of

    job = loaded.jobs[job_id]
    assert job.snapshots is not None
    keep = job.snapshots.keep
    if keep is None:
        click.echo(f"{job_id} has no `keep:` policy: every snapshot is kept.")
        return 0

    def remove(journaled: Callable[[PrunePlan], object]) -> PruneResult:
        fresh = read_snapshots(spec)  # under the job's lock: a run may have ended meanwhile
        return asyncio.run(retain(fresh, keep, loaded.timezone, remote_of(spec), on_moved=journaled))

    plan = plan_prune(listing, keep, loaded.timezone)
    return _prune_now(loaded, job_id, plan, keep, "snapshot", "snapshot.pruned", remove, dry_run=dry_run)


def _prune_now(
    loaded: LoadedPlan,
    job_id: str,
    plan: PrunePlan | VersionsPrune,
    keep: Keep,
    noun: str,
    event: str,
    remove: Callable[[Callable[[Any], object]], PruneResult | VersionsPruned],
    *,
    dry_run: bool,
) -> int:
    """Print what `plan` removes and why the rest stays; unless `dry_run`, call `remove` under the
    job's lock with a callback that journals each step as `event`, and say what went."""
    from backupplan.commands.run import open_journal
    from backupplan.journal import JobLock

    for line in prune_lines(plan, keep.model_dump(), noun):
        click.echo(line)
    if dry_run:
        click.echo("Dry run: nothing was removed.")
        return 0
    with JobLock(loaded.state_dir, job_id):
        journal = open_journal(loaded)
        try:
            result = remove(lambda done: journal.append(event, job=job_id, data=done.record()))
        finally:
            journal.close()
    click.echo(f"Removed {len(result.removed)} {noun}{'s' if len(result.removed) != 1 else ''}.")
    if result.error:
        raise BackupplanError(result.error)
    return 0


def prune_lines(plan: PrunePlan | VersionsPrune, keep: dict[str, Any], noun: str = "snapshot") -> list[str]:
    """What a prune removes and why the rest stays."""
    policy = ", ".join(f"{name} {count}" for name, count in keep.items() if count) or "nothing but the newest"
    lines = [f"Retention (keep {policy}):"]
    rows = [(snapshot, "remove", "") for snapshot in plan.remove]
    rows += [(snapshot, "keep", ", ".join(reasons)) for snapshot, reasons in plan.kept.items()]
    for snapshot, action, why in sorted(rows):
        lines.append(f"  {action:<6}  {snapshot}" + (f"  ({why})" if why else ""))
    count = len(plan.remove)
    lines.append(f"{count} {noun}{'s' if count != 1 else ''} to remove, {len(plan.kept)} kept.")
    return lines


def versions_command(loaded: LoadedPlan, job_id: str, *, prune: bool, dry_run: bool, as_json: bool) -> int:
    """List an rclone job's version folders (each run's replaced and deleted files), or prune them
    by its `keep:` policy now (under the job's lock), or show what that would do."""
    from backupplan.snapshots.versions import list_versions, versions_root

    job = loaded.jobs[job_id]
    root = versions_root(job, loaded.base_dir)
    versions = asyncio.run(list_versions(root, job.env, sizes=not prune))
    keep = job.versions.keep if job.versions is not None else None
    if prune:
        return _prune_versions(loaded, job_id, root, versions, keep, dry_run=dry_run)
    for line in versions_lines(loaded, job_id, root, versions, keep, as_json=as_json):
        click.echo(line)
    return 0


def versions_lines(
    loaded: LoadedPlan,
    job_id: str,
    root: str,
    versions: list[Version],
    keep: Keep | None,
    *,
    as_json: bool = False,
) -> list[str]:
    """The version folders as printed: id, time, files, size and what keeps each (or the JSON)."""
    from backupplan.snapshots.versions import plan_versions_prune

    kept = plan_versions_prune(root, versions, keep, loaded.timezone).kept if keep else {}
    if as_json:
        document = {
            "format": SNAPSHOTS_FORMAT,
            "job": job_id,
            "destination": loaded.jobs[job_id].destination,
            "root": root,
            "versions": [
                {
                    "id": version.id,
                    "time": version.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "files": version.files,
                    "bytes": version.bytes,
                    "kept_by": kept.get(version.id, []) if keep else None,
                }
                for version in versions
            ],
        }
        return [orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()]
    from backupplan.commands.status import table

    zone = loaded.timezone
    lines = [f"Versions of {job_id} in {root} (what each run replaced or deleted, as it was before):", ""]
    if not versions:
        return [*lines, "No version folder yet: no run has replaced or deleted a file."]

    def why(version: Version) -> str:
        if keep is None:
            return "every folder (no keep:)"
        return ", ".join(kept[version.id]) if version.id in kept else "nothing: removed at the next prune"

    rows = [
        [
            version.id,
            version.time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            str(version.files),
            format_size(version.bytes),
            why(version),
        ]
        for version in versions
    ]
    lines += table(["ID", "RUN STARTED", "FILES", "SIZE", "KEPT BY"], rows)
    count = len(versions)
    total = format_size(sum(version.bytes for version in versions))
    lines += [
        "",
        f"{count} version folder{'s' if count != 1 else ''}, {total} together. Times in {zone}. "
        f"`backupplan restore {job_id} --snapshot ID --to PATH` brings a folder's files back.",
    ]
    return lines


def _prune_versions(
    loaded: LoadedPlan, job_id: str, root: str, versions: list[Version], keep: Keep | None, *, dry_run: bool
) -> int:
    from backupplan.snapshots.versions import list_versions, plan_versions_prune, prune_versions

    job = loaded.jobs[job_id]
    if keep is None:
        click.echo(f"{job_id} has no `keep:` policy for its versions: every version folder is kept.")
        return 0
    kept = keep  # not None (a closure does not keep the narrowing)

    def remove(journaled: Callable[[VersionsPrune], object]) -> VersionsPruned:
        fresh = asyncio.run(list_versions(root, job.env))  # a run may have ended meanwhile
        again = plan_versions_prune(root, fresh, kept, loaded.timezone)
        return asyncio.run(prune_versions(again, job.env, on_removed=journaled))

    plan = plan_versions_prune(root, versions, keep, loaded.timezone)
    return _prune_now(
        loaded, job_id, plan, keep, "version folder", "versions.pruned", remove, dry_run=dry_run
    )
