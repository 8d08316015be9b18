"""File-level helpers of the journal: private files, error messages that say what to do, copies
kept aside."""

from __future__ import annotations

import contextlib
import errno
import os
from datetime import UTC, datetime
from pathlib import Path

from backupplan.errors import StateError
from backupplan.fsutil import fsync_dir

COPY_CHUNK = 8 * 1024 * 1024


class UnwritableError(StateError):
    """The state dir or the journal cannot be written (permissions, read-only, full, too large)."""


_REASONS = {
    errno.ENOSPC: ("no space left on the device", "free some space on that file system"),
    errno.EDQUOT: ("the disk quota is exhausted", "free some space or raise the quota"),
    errno.EFBIG: (
        "the file is too large for this process (its file size limit, `ulimit -f`, was reached)",
        "raise the limit (`ulimit -f unlimited`) for backupplan",
    ),
    errno.EROFS: ("the file system is read-only", "remount it read-write or set settings.state_dir"),
    errno.EACCES: ("permission denied", "run backupplan as the state dir's owner or fix its permissions"),
    errno.EPERM: (
        "operation not permitted (is the file or folder immutable? see `lsattr`)",
        "remove the immutable flag with `chattr -i` or set settings.state_dir",
    ),
}


def unwritable(path: Path, error: OSError, doing: str) -> UnwritableError:
    """Given a failed write to `path`, return the error that says what failed, why and what to do."""
    reason, hint = _REASONS.get(error.errno or 0, (error.strerror or str(error), "check the path"))
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += f" ({_free_space(path)} free)"
        hint += ", or move settings.state_dir to another disk; backups go on once there is room"
    return UnwritableError(f"cannot {doing} {path}: {reason}; {hint}")


def _free_space(path: Path) -> str:
    """What is left on the file system of `path` (or of its nearest existing parent)."""
    from backupplan.units import format_size

    for folder in (path, *path.parents):
        try:
            stats = os.statvfs(folder)
        except OSError:
            continue
        return format_size(stats.f_bavail * stats.f_frsize)
    return "unknown"


def open_private(path: Path, flags: int) -> int:
    """Open (creating it 0600 when missing) `path`; return the descriptor.

    Raise UnwritableError naming the path when it cannot be opened.
    """
    created = False
    try:
        try:
            fd = os.open(path, flags | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)
            created = True
    except OSError as error:
        raise unwritable(path, error, "open") from None
    try:
        status = os.fstat(fd)
        if status.st_uid == os.geteuid() and status.st_mode & 0o077:
            os.fchmod(fd, 0o600)  # the umask, or an older tool, must not leave it readable by others
        if created:
            fsync_dir(path.parent)
    except OSError as error:
        os.close(fd)
        raise unwritable(path, error, "set up") from None
    return fd


def truncate_back(fd: int, size: int) -> None:
    """Cut the file back to `size` bytes (dropping a partial record); when that fails too, the next
    writer under the lock cuts the torn tail."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass


def copy_aside(source: Path, prefix: str, now: datetime) -> Path:
    """Copy `source` next to itself as `<prefix>-<UTC time>.jsonl` (0600, fsynced, whole or absent);
    return the copy's path. Raise OSError when it cannot be written."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = source.parent
    target = folder / f"{prefix}-{stamp}.jsonl"
    counter = 2
    while target.exists():
        target = folder / f"{prefix}-{stamp}-{counter}.jsonl"
        counter += 1
    temporary = folder / f".{target.name}.{os.getpid()}.tmp"
    out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            with open(source, "rb") as reader:
                while chunk := reader.read(COPY_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view) :]
            os.fchmod(out, 0o600)
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_dir(folder)
    return target
