"""Durable file writing: private folders, atomic replacement, fsync of data and directory."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from backupplan.errors import StateError


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (missing parents with the usual mode) as 0700, or tighten an existing `path`
    we own to 0700. Raise StateError naming the path when it cannot be created, or when an existing
    `path` is a folder others rely on (`/`, a home folder, a shared folder with the sticky bit
    such as /tmp): tightening one of those would lock every other user and service out.

    Only the folder itself is made private: a parent may hold other things (the site next to the
    state dir) that must stay readable.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        status = path.stat()
        if status.st_uid == os.geteuid() and status.st_mode & 0o077:
            _refuse_shared_folder(path, status)
            path.chmod(0o700)
    except OSError as error:
        raise StateError(f"cannot create folder {path}: {error.strerror or error}") from None
    return path


def _refuse_shared_folder(path: Path, status: os.stat_result) -> None:
    resolved = path.resolve()
    try:
        home: Path | None = Path.home().resolve()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        home = None
    shared = resolved == Path(resolved.anchor) or status.st_mode & stat.S_ISVTX or resolved == home
    if shared:
        raise StateError(
            f"refusing to make {path} private (mode 0700): others rely on that folder; "
            "point state_dir at a folder of its own, such as .backupplan beside the plan"
        )


def fsync_dir(path: Path) -> None:
    """fsync a directory so that a rename or a new file in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new file, never half of one.

    Writes a temp file in the same folder, fsyncs it (when `durable`), renames it over `path` and
    fsyncs the folder. Raise OSError on failure, leaving no temp file behind.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temporary, mode)  # umask must not loosen the mode
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if durable:
        fsync_dir(path.parent)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete `.name.PID.tmp` files left by writers that were killed mid-write; return how many."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in folder.iterdir():
            parts = entry.name.rsplit(".", 2)
            if not (
                entry.name.startswith(".") and len(parts) == 3 and parts[2] == "tmp" and parts[1].isdigit()
            ):
                continue
            if pid_alive(int(parts[1])):
                continue  # a writer is still at work on it
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
