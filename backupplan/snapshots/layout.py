"""How snapshots lie in a job's destination folder, and how to read that back.

    /mnt/nas/photos/                      the job's destination
      2026-11-27T020000Z/                 a complete snapshot (its id: the UTC time it was taken)
      2026-11-28T020000Z/                 the newest complete snapshot
      latest -> 2026-11-28T020000Z        relative symlink, replaced atomically
      2026-11-29T020000Z.partial/         a run in progress, or one that was interrupted
      .trash-2026-10-01T020000Z/          a pruned snapshot being deleted

Only a folder whose whole name is an id is a snapshot: a `.partial` or `.trash-` folder never is,
whatever it holds. Anything else in the destination is left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backupplan.errors import BackupplanError

ID_FORMAT = "%Y-%m-%dT%H%M%SZ"  # sortable, and without colons so the names are portable
ID_PATTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d{6}Z$")
PARTIAL_SUFFIX = ".partial"
TRASH_PREFIX = ".trash-"
LATEST = "latest"


class SnapshotError(BackupplanError):
    """A snapshot cannot be made, listed, pruned or restored as asked."""


def snapshot_id(moment: datetime) -> str:
    """Given an aware time, return the snapshot id for it (`2026-11-28T020000Z`)."""
    return moment.astimezone(UTC).strftime(ID_FORMAT)


def parse_id(text: str) -> datetime | None:
    """Given a folder name, return the UTC time it names, or None when it is not a snapshot id."""
    if not ID_PATTERN.match(text):
        return None
    try:
        return datetime.strptime(text, ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # 2026-13-45T…: the right shape, not a time
        return None


def next_id(now: datetime, taken: Iterable[str]) -> str:
    """Given the time now and the ids already in use, return the id of a new snapshot: now, or one
    second after the newest id taken when that is later (two runs in one second, or a clock that
    went back): a new snapshot always sorts after every existing one."""
    moment = now.astimezone(UTC).replace(microsecond=0)
    times = [parsed for parsed in map(parse_id, taken) if parsed is not None]
    if times and max(times) >= moment:
        moment = max(times) + timedelta(seconds=1)
    return snapshot_id(moment)


@dataclass(frozen=True)
class Listing:
    """What a destination folder holds. Ids are sorted oldest first."""

    destination: Path
    complete: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()  # ids of `<id>.partial` folders
    trash: tuple[str, ...] = ()  # names of `.trash-…` folders
    latest: str | None = None  # what the `latest` link points at, if anything
    login: str | None = None  # `user@host` when the destination is on a server reached over ssh

    @property
    def newest(self) -> str | None:
        return self.complete[-1] if self.complete else None

    @property
    def where(self) -> str:
        """The destination for people and for rsync: `/mnt/usb/docs`, or `user@host:/srv/docs`."""
        return f"{self.login}:{self.destination}" if self.login else str(self.destination)

    def path(self, snapshot: str) -> Path:
        return self.destination / snapshot

    def partial_path(self, snapshot: str) -> Path:
        return self.destination / f"{snapshot}{PARTIAL_SUFFIX}"

    def resolve(self, wanted: str | None) -> str:
        """Given `latest`, None or an id, return the id of a complete snapshot; raise SnapshotError
        naming the snapshots there are when there is no such snapshot."""
        if wanted in (None, LATEST):
            if self.newest is None:
                raise SnapshotError(f"{self.where} holds no complete snapshot yet")
            return self.newest
        assert wanted is not None
        if wanted in self.complete:
            return wanted
        if wanted in self.partial:
            raise SnapshotError(
                f"{wanted} is an unfinished snapshot ({wanted}{PARTIAL_SUFFIX}): it is not a backup; "
                "the next run completes it under a new id"
            )
        known = ", ".join(self.complete[-5:]) or "none"
        raise SnapshotError(
            f"no snapshot {wanted!r} in {self.where} (the newest: {known}); "
            "`backupplan snapshots JOB` lists them all"
        )


def read_listing(destination: Path) -> Listing:
    """Given a job's destination folder, return what it holds (empty when it does not exist yet);
    raise SnapshotError when it cannot be read."""
    try:
        entries = list(os.scandir(destination))
    except FileNotFoundError:
        return Listing(destination)
    except OSError as error:
        raise SnapshotError(f"cannot read {destination}: {error.strerror or error}") from None
    latest = None
    with contextlib.suppress(OSError):
        latest = os.readlink(destination / LATEST)
    folders = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
    return sort_folders(destination, folders, latest)


def sort_folders(
    destination: Path, folders: Iterable[str], latest: str | None, login: str | None = None
) -> Listing:
    """Given the names of the folders (not symlinks) in a destination, and where its `latest` link
    points, return the listing: snapshots, `.partial` folders and trash, each sorted; other names
    are left out. Shared by local destinations and those on a server (snapshots.remote)."""
    complete: list[str] = []
    partial: list[str] = []
    trash: list[str] = []
    for name in folders:
        if parse_id(name) is not None:
            complete.append(name)
        elif name.endswith(PARTIAL_SUFFIX) and parse_id(name[: -len(PARTIAL_SUFFIX)]) is not None:
            partial.append(name[: -len(PARTIAL_SUFFIX)])
        elif name.startswith(TRASH_PREFIX):
            trash.append(name)
    return Listing(
        destination, tuple(sorted(complete)), tuple(sorted(partial)), tuple(sorted(trash)), latest, login
    )


def trash_path(destination: Path, label: str) -> Path:
    """Return a free `.trash-<label>` path in `destination` (`-2`, `-3`… added when taken)."""
    return destination / trash_name(label, lambda name: os.path.lexists(destination / name))


def trash_name(label: str, taken: Callable[[str], bool]) -> str:
    """Return `.trash-<label>`, or `.trash-<label>-2`, `-3`… : the first name `taken` says is free."""
    candidate = f"{TRASH_PREFIX}{label}"
    number = 1
    while taken(candidate):
        number += 1
        candidate = f"{TRASH_PREFIX}{label}-{number}"
    return candidate


def point_latest(destination: Path, snapshot: str) -> None:
    """Make `destination/latest` a relative symlink to `snapshot`, atomically: a new link under a
    temporary name renamed over the old one, so `latest` always exists once it did. Raise OSError."""
    from backupplan.fsutil import fsync_dir

    link = destination / LATEST
    with contextlib.suppress(OSError):
        if os.readlink(link) == snapshot:
            return
    temporary = destination / f".{LATEST}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(snapshot, temporary)
    try:
        os.replace(temporary, link)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_dir(destination)
