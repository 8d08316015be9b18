"""Does a new snapshot share its unchanged files with the one it was linked to?

rsync silently makes a full copy when it cannot link: `--link-dest` to a missing folder gives only
the warning "--link-dest arg does not exist" and exit 0; to a folder on another filesystem, not
even that. So a sample of the previous snapshot's files is compared with the new one by inode.
"""

from __future__ import annotations

import os
from pathlib import Path

LINK_SAMPLE = 400  # files compared between the new snapshot and the one it was linked to
MISSING_LINK_DEST = "--link-dest arg does not exist"


def missing_link_dest(warnings: tuple[str, ...]) -> str | None:
    """Given rsync's warnings, return the one saying that `--link-dest` named no folder, or None."""
    return next((line for line in warnings if MISSING_LINK_DEST in line), None)


def link_problem(new: Path, base: Path | None, warnings: tuple[str, ...] = ()) -> str | None:
    """Given a new snapshot and the one it should share unchanged files with, return why it does
    not (None when it does): files with the same size, time, mode and owner in both are compared
    by inode, on a sample of up to LINK_SAMPLE files."""
    missing = missing_link_dest(warnings)
    if base is None:
        return None
    unchanged = shared = 0
    for relative, before in sample_files(base, LINK_SAMPLE):
        try:
            after = os.lstat(os.path.join(os.fsencode(new), relative))
        except OSError:
            continue
        same = (before.st_size, before.st_mtime_ns, before.st_mode, before.st_uid, before.st_gid) == (
            after.st_size, after.st_mtime_ns, after.st_mode, after.st_uid, after.st_gid,
        )  # fmt: skip
        if same:
            unchanged += 1
            shared += (before.st_ino, before.st_dev) == (after.st_ino, after.st_dev)
    said = f" (rsync: {missing})" if missing else ""
    if unchanged and not shared:
        return (
            f"snapshot {new.name} is a full copy: none of {unchanged} unchanged files checked is "
            f"hard-linked to {base.name}, so it takes the full space{said}; is {base.name} on "
            "another filesystem, or does the destination's filesystem lack hard links?"
        )
    if unchanged and shared < unchanged:
        return (
            f"snapshot {new.name} shares only {shared} of {unchanged} unchanged files checked with "
            f"{base.name}: the others take full space{said}"
        )
    if missing and not unchanged:
        return f"snapshot {new.name} may be a full copy: rsync: {missing}"
    return None


def sample_files(root: Path, limit: int) -> list[tuple[bytes, os.stat_result]]:
    """Return up to `limit` regular files under `root` as (relative path, lstat), walking in order."""
    found: list[tuple[bytes, os.stat_result]] = []
    pending = [b""]
    base = os.fsencode(root)
    while pending and len(found) < limit:
        relative = pending.pop()
        try:
            entries = sorted(os.scandir(os.path.join(base, relative) if relative else base),
                             key=lambda entry: entry.name)  # fmt: skip
        except OSError:
            continue
        for entry in entries:
            name = os.path.join(relative, entry.name) if relative else entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(name)
            elif entry.is_file(follow_symlinks=False) and len(found) < limit:
                found.append((name, entry.stat(follow_symlinks=False)))
    return found
