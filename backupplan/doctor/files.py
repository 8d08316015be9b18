"""Folders as doctor sees them: can this user read or write them, why not, and how much space is left.

Nothing here writes: writability is asked with access(2), which knows permissions, ACLs, read-only
mounts and the immutable flag, and which is not fooled the way mode bits are (root may write into a
0555 folder, as rsync run by root would).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import stat
import struct
from pathlib import Path
from typing import Literal

from backupplan.doctor.model import Space
from backupplan.units import format_size

LOW_SPACE_BYTES = 1024**3  # less than this free is low, whatever the size of the disk
LOW_SPACE_SHARE = 0.05  # and so is less than this share of the file system
_FS_IOC_GETFLAGS = (2 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 1
_FS_IMMUTABLE_FL = 0x10


def can(path: Path, mode: int) -> bool:
    """True when this process (its effective user) may access `path` as `mode` (os.R_OK, W_OK…)."""
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)


PathKind = Literal["missing", "folder", "file", "unreachable"]


def kind_of(path: Path) -> PathKind:
    """What `path` is, for this user: `unreachable` when a permission (of it or a parent) or an
    I/O error keeps it from being looked at, which `Path.exists()` would raise on."""
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError:
        return "unreachable"
    return "folder" if stat.S_ISDIR(status.st_mode) else "file"


def nearest_existing(path: Path) -> Path:
    """Given a path, return it or its closest ancestor that exists (or cannot be looked at)."""
    current = path
    while kind_of(current) == "missing" and current != current.parent:
        current = current.parent
    return current


def immutable(path: Path) -> bool:
    """True when `path` carries the immutable attribute (chattr +i)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            buffer = bytearray(8)
            fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buffer, True)
            return bool(int.from_bytes(buffer[:4], "little") & _FS_IMMUTABLE_FL)
        finally:
            os.close(fd)
    return False


def read_only_mount(path: Path) -> bool:
    """True when `path` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def user_text(uid: int) -> str:
    """`alice (uid 1000)`, or `uid 1000` for a uid without a name."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def why_not_writable(path: Path) -> tuple[str, str]:
    """Given a folder this user cannot write, return (why, what to do)."""
    if read_only_mount(path):
        return (
            "its file system is mounted read-only",
            "remount it read-write (mount -o remount,rw), or pick another folder",
        )
    if immutable(path):
        return "it is immutable (chattr +i)", f"remove the attribute: chattr -i {path}"
    try:
        status = path.stat()
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})", "check the path and its parents"
    mode = f"{status.st_mode & 0o7777:04o}"
    return (
        f"permission denied (owner {user_text(status.st_uid)}, mode {mode}; backupplan runs as "
        f"{user_text(os.geteuid())})",
        "run backupplan as a user that may write there, or change the folder's owner or mode",
    )


def space_text(space: Space) -> str:
    """`42.1 GiB free of 250.0 GiB (17 %)`."""
    share = space.free / space.total * 100 if space.total else 0.0
    return f"{format_size(space.free)} free of {format_size(space.total)} ({share:.0f} %)"


def low_space(space: Space) -> bool:
    """True when less than 1 GiB, or less than 5 % of the file system, is free."""
    return space.free < LOW_SPACE_BYTES or (space.total > 0 and space.free < space.total * LOW_SPACE_SHARE)


def space_facts(space: Space) -> dict[str, int]:
    return {"free_bytes": space.free, "total_bytes": space.total}
