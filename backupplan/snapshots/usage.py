"""What each snapshot holds and costs: files, total size, and the size unique to it.

The size unique to a snapshot is what deleting it would free: the bytes of its files whose inode
appears in no other snapshot of the job. Each snapshot is walked once (one `lstat` per file); a
file with a single link is unique without further ado, the others are matched by inode across
snapshots.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime

from backupplan.snapshots.layout import Listing, parse_id

SHARED = -1  # owner of an inode found in more than one snapshot


@dataclass(frozen=True)
class Usage:
    id: str
    time: datetime
    files: int
    bytes: int  # the apparent size of its regular files
    unique_bytes: int


@dataclass(frozen=True)
class Measurement:
    snapshots: list[Usage]  # oldest first
    distinct_bytes: int  # what all snapshots take together: each inode counted once


def measure(listing: Listing) -> Measurement:
    """Given a destination's listing, return the usage of every complete snapshot and of them all."""
    owners: dict[tuple[int, int], tuple[int, int]] = {}  # (device, inode) -> (snapshot index, size)
    files = [0] * len(listing.complete)
    sizes = [0] * len(listing.complete)
    unique = [0] * len(listing.complete)
    for index, snapshot in enumerate(listing.complete):
        for status in _files(os.fsencode(listing.path(snapshot))):
            files[index] += 1
            sizes[index] += status.st_size
            if status.st_nlink == 1:
                unique[index] += status.st_size
                continue
            key = (status.st_dev, status.st_ino)
            owner = owners.get(key)
            if owner is None:
                owners[key] = (index, status.st_size)
            elif owner[0] not in (index, SHARED):
                owners[key] = (SHARED, status.st_size)
    shared = 0
    for holder, size in owners.values():
        if holder == SHARED:
            shared += size
        else:
            unique[holder] += size
    result = []
    for index, snapshot in enumerate(listing.complete):
        moment = parse_id(snapshot)
        assert moment is not None
        result.append(Usage(snapshot, moment, files[index], sizes[index], unique[index]))
    return Measurement(result, shared + sum(unique))


def _files(root: bytes) -> list[os.stat_result]:
    """Return the lstat of every regular file under `root` (unreadable folders are skipped)."""
    found: list[os.stat_result] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        status = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(status.st_mode):
                            found.append(status)
        except OSError:
            continue
    return found
