"""Versions of rclone jobs: what each run replaced or deleted, in one dated folder per run.

    s3:bucket/photos/                  the copy (the job's destination)
    s3:bucket/photos.versions/         the versions root (`versions.path`; by default the
                                       destination with `.versions` appended)
      20261127T020000Z/                what run 20261127T020000Z-3f9a replaced or deleted, as it
        albums/beach.jpg               was before that run, at its place in the copy
      20261128T020000Z/

The run gives rclone `--backup-dir <root>/<stamp>` (the stamp: the run id's UTC start time).
rclone makes that folder only when the run moves something into it, so a run that changed nothing
leaves none. After a successful run the folders are listed (`rclone lsjson --dirs-only`), `keep:`
decides with snapshots.retention (the same buckets as snapshots, in the plan's timezone), and the
others are removed with `rclone purge`, one at a time. Anything in the root whose name is not a
stamp is left alone. See docs/remote.md.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import orjson

from backupplan.engines import TransferSpec
from backupplan.engines.rclone import LOW_LEVEL_RETRIES, RcloneEngine, last_complaint
from backupplan.errors import BackupplanError
from backupplan.plan.locations import parse_location, versions_beside
from backupplan.plan.model import Job, Keep
from backupplan.snapshots.retention import retained

FOLDER_FORMAT = "%Y%m%dT%H%M%SZ"  # the run id's own stamp: 20261128T020000Z
FOLDER_PATTERN = re.compile(r"^\d{8}T\d{6}Z$")
NOT_FOUND = 3  # rclone's exit code for "directory not found": no run has moved anything yet


class VersionsError(BackupplanError):
    """The versions of a job cannot be found, listed or pruned as asked."""


def parse_folder(name: str) -> datetime | None:
    """Given a folder name, return the UTC time it names, or None when it is not a version folder."""
    if not FOLDER_PATTERN.match(name):
        return None
    try:
        return datetime.strptime(name, FOLDER_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # 20261345T…: the right shape, not a time
        return None


def folder_of(run_id: str) -> str:
    """Given a run id (`20261128T020000Z-3f9a`), return its version folder's name (`20261128T020000Z`)."""
    stamp = run_id.split("-", 1)[0]
    if parse_folder(stamp) is None:
        raise VersionsError(f"run id {run_id!r} does not start with a UTC time like 20261128T020000Z")
    return stamp


def folder_at(moment: datetime) -> str:
    """Given an aware time, return the version folder's name a run started then would use."""
    return moment.astimezone(UTC).strftime(FOLDER_FORMAT)


def versions_root(job: Job, base_dir: Path) -> str:
    """Given an rclone job with `versions:` and the plan's folder, return where its version folders
    go, as rclone is to be given it (an absolute local path, or `remote:path`); raise VersionsError
    when the job keeps no versions, or has no place for them (validate says so first)."""
    if job.versions is None or job.engine != "rclone":
        raise VersionsError("the job keeps no versions (add `versions:` to an rclone job)")
    if job.versions.path is not None:
        place = parse_location(job.versions.path, "rclone", base_dir)
        return place.path if place.is_local else job.versions.path
    beside = versions_beside(parse_location(job.destination, "rclone", base_dir), job.env)
    if beside is None:
        raise VersionsError(f"the destination {job.destination} has no folder beside it: set versions.path")
    return beside


def backup_dir(root: str, folder: str) -> str:
    """The `--backup-dir` of the run whose version folder is `folder`."""
    return f"{root.rstrip('/')}/{folder}"


def root_of(backup_dir: str) -> str:
    """Given a run's `--backup-dir`, return the versions root it lies in."""
    return backup_dir.rstrip("/").rsplit("/", 1)[0]


@dataclass(frozen=True)
class Version:
    """One version folder: its name, the time it names, and (when listed with sizes) what it holds."""

    id: str
    time: datetime
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class VersionsPrune:
    """What a `keep:` policy does to a versions root: the folders to remove (oldest first) and, for
    every folder kept, the rules that keep it (newest first)."""

    root: str
    remove: tuple[str, ...]
    kept: dict[str, list[str]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The `versions.pruned` journal record's data."""
        return {"root": self.root, "ids": list(self.remove), "kept": self.kept}


@dataclass(frozen=True)
class VersionsPruned:
    removed: tuple[str, ...]
    error: str | None = None


def plan_versions_prune(
    root: str, versions: Iterable[Version], keep: Keep, timezone: tzinfo
) -> VersionsPrune:
    """Given the version folders of a root and a `keep:` policy (buckets in `timezone`), return
    what to remove. The newest folder is always kept."""
    names = {version.time: version.id for version in versions}
    reasons = retained(names, keep, timezone)
    kept = {names[moment]: reasons[moment] for moment in sorted(reasons, reverse=True)}
    remove = tuple(names[moment] for moment in sorted(names) if names[moment] not in kept)
    return VersionsPrune(root, remove, kept)


def environment(env: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an rclone child for a job whose env is `env` (as its transfers get it)."""
    spec = TransferSpec(source=".", destination=".", env=env)
    return RcloneEngine().environment(spec, os.environ if base is None else base)


async def _rclone(
    arguments: list[str], env: Mapping[str, str], *, timeout: float | None, cancel: asyncio.Event | None
) -> tuple[int | None, bytes, bytes]:
    """Run `rclone COMMAND …` through backupplan.process; return its exit code, stdout and stderr."""
    from backupplan.process.execute import run_process

    stdout: list[bytes] = []
    stderr: list[bytes] = []
    argv = ("rclone", arguments[0], "--retries=1", f"--low-level-retries={LOW_LEVEL_RETRIES}", *arguments[1:])
    result = await run_process(
        argv,
        env=environment(env),
        on_stdout=stdout.append,
        on_stderr=stderr.append,
        timeout=timeout,
        cancel=cancel,
    )
    if result.timed_out:
        raise VersionsError(f"rclone {arguments[0]} {arguments[-1]} took too long (the run's time is up)")
    return result.exit_code, b"\n".join(stdout), b"\n".join(stderr)


async def list_versions(
    root: str,
    env: Mapping[str, str],
    *,
    sizes: bool = False,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> list[Version]:
    """Given a versions root and the job's env, return its version folders, oldest first (with
    `sizes`, each with its files and bytes: one recursive listing). A root that does not exist
    yet has none. Raise VersionsError when rclone cannot list it."""
    arguments = ["lsjson", "-R", "--no-mimetype", root] if sizes else ["lsjson", "--dirs-only", root]
    code, stdout, stderr = await _rclone(arguments, env, timeout=timeout, cancel=cancel)
    if code == NOT_FOUND:
        return []
    if code != 0:
        raise VersionsError(f"cannot list the versions in {root}: {last_complaint(stderr, code)}")
    try:
        entries = orjson.loads(stdout or b"[]")
    except orjson.JSONDecodeError as error:
        raise VersionsError(f"cannot read rclone's listing of {root}: {error}") from None
    found: dict[str, list[int]] = {}  # folder -> [files, bytes]
    for entry in entries if isinstance(entries, list) else []:
        path = str(entry.get("Path", "")) if isinstance(entry, dict) else ""
        top, _, below = path.partition("/")
        if parse_folder(top) is None:
            continue
        totals = found.setdefault(top, [0, 0])
        if below and not entry.get("IsDir"):
            totals[0] += 1
            totals[1] += max(0, int(entry.get("Size") or 0))
    listed = [Version(name, time, *totals) for name, totals in found.items() if (time := parse_folder(name))]
    return sorted(listed, key=lambda version: version.time)


async def prune_versions(
    plan: VersionsPrune,
    env: Mapping[str, str],
    *,
    on_removed: Callable[[VersionsPrune], object],
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
) -> VersionsPruned:
    """Remove the folders `plan` removes with `rclone purge`, oldest first, then call
    `on_removed` with those actually removed (the caller journals them). Stop at the first that
    cannot be removed; return what was removed and that error. A folder already gone counts as
    removed. A purge cut short leaves part of its folder, which the next prune removes."""
    removed: list[str] = []
    error = None
    for name in plan.remove:
        try:
            code, _, stderr = await _rclone(
                ["purge", backup_dir(plan.root, name)], env, timeout=timeout, cancel=cancel
            )
        except BackupplanError as failure:
            error = str(failure)
            break
        if code not in (0, NOT_FOUND):
            error = f"cannot remove {backup_dir(plan.root, name)}: {last_complaint(stderr, code)}"
            break
        removed.append(name)
    if removed:
        on_removed(VersionsPrune(plan.root, tuple(removed), plan.kept))
    return VersionsPruned(tuple(removed), error)
