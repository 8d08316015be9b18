"""What a local destination can keep: hard links, ACLs, extended attributes, sparse files.

Learnt by trying, in a scratch folder made (and removed) at the destination: a hard link, a
`user.` extended attribute, a POSIX ACL with a named user (written as the kernel's own
`system.posix_acl_access` attribute, so no `setfacl` is needed), and a file with a 4 MiB hole.
Before a job's first run and in `doctor`, each property the job keeps (`preserve:`) that the
destination cannot keep is a warning naming the key to set. See docs/fidelity.md.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from backupplan.engines.base import PRESERVED_WORDS

# What a file system says when it cannot do something at all (vfat answers a hard link with EPERM).
NOT_SUPPORTED = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EPERM})
HOLE = 4 * 1024 * 1024


def _acl() -> bytes:
    """An access ACL (POSIX.1e, the Linux xattr format, version 2) granting `nobody` read."""
    undefined = 0xFFFFFFFF
    entries = [(0x01, 6, undefined), (0x02, 4, 65534), (0x04, 4, undefined), (0x10, 4, undefined),
               (0x20, 4, undefined)]  # fmt: skip
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


@dataclass(frozen=True)
class Fidelity:
    """For each property: True (kept), False (the file system cannot), None (could not tell)."""

    folder: str
    hard_links: bool | None
    acls: bool | None
    xattrs: bool | None
    sparse: bool | None

    def lost(self, kept: tuple[str, ...]) -> list[str]:
        """Given the properties a job keeps, return those this destination cannot keep."""
        return [name for name in kept if name in PRESERVED_WORDS and getattr(self, name) is False]


def lost_text(lost: list[str], folder: str) -> str:
    """`the destination /mnt/usb cannot keep ACLs, extended attributes: set preserve: {acls: false,
    xattrs: false} for this job, or use a file system that keeps them`."""
    names = ", ".join(PRESERVED_WORDS[name] for name in lost)
    keys = ", ".join(f"{name}: false" for name in lost)
    return (
        f"the destination {folder} cannot keep {names}: set preserve: {{{keys}}} for this job "
        "(what it cannot keep is then knowingly left out), or use a file system that keeps them"
    )


def probe(folder: Path) -> Fidelity:
    """Given an existing, writable folder at the destination, return what it can keep; raise
    OSError when not even a scratch folder can be made there."""
    scratch = Path(tempfile.mkdtemp(prefix=".backupplan-probe-", dir=folder))
    try:
        first = scratch / "a"
        first.write_bytes(b"backupplan")
        return Fidelity(
            str(folder),
            _try(lambda: os.link(first, scratch / "b")),
            _try(lambda: os.setxattr(first, "system.posix_acl_access", _acl())),
            _try(lambda: os.setxattr(first, "user.backupplan", b"probe")),
            _sparse(scratch / "c"),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _try(action: object) -> bool | None:
    assert callable(action)
    try:
        action()
    except OSError as error:
        return False if error.errno in NOT_SUPPORTED else None
    return True


def _sparse(path: Path) -> bool | None:
    try:
        with open(path, "wb") as handle:
            handle.seek(HOLE)
            handle.write(b"x")
            handle.flush()
            os.fsync(handle.fileno())
        blocks = os.stat(path).st_blocks * 512
    except OSError:
        return None
    with contextlib.suppress(OSError):
        path.unlink()
    return blocks < HOLE // 2


def nearest_folder(path: Path) -> Path:
    """The destination folder itself, or its nearest existing parent (before the first run)."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path("/")
