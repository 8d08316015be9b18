"""Locks in the state dir: `locks/<name>.lock`, held with flock by the process that owns the thing.

The kernel drops a flock when its holder dies, however it dies, so a lock is never stale: a lock
left by a dead process is simply free. The holder writes its pid and the time it took the lock into
the file, so that "busy" can say who holds it. Lock files are opened close-on-exec, so an engine
child never inherits (and never keeps holding) its parent's lock.

`JobLock(state_dir, job)` guards one job's runs; the daemon uses `StateLock(state_dir, DAEMON_LOCK)`
for the whole state dir. Names starting with `_` cannot be job ids, so they never collide with one.

Checking whether a lock is free (`lock_holder`) takes it for a moment and lets it go at once;
`acquire` retries for a moment before it reports "busy" so that such a check never makes a real
acquisition fail.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

import orjson

from backupplan.errors import JobBusyError, StateError
from backupplan.fsutil import ensure_private_dir
from backupplan.journal.files import unwritable

DAEMON_LOCK = "_daemon"
LOCK_NAME = re.compile(r"^_?[a-z0-9][a-z0-9_-]{0,63}$")
ACQUIRE_PATIENCE = 0.2  # seconds a busy lock is retried: covers momentary `lock_holder` checks
_RETRY_PAUSE = 0.01


class LockHolder(NamedTuple):
    """Who holds a lock: a process id and the moment it took the lock (`pid, since = holder`)."""

    pid: int
    since: datetime


def lock_path(state_dir: Path, name: str) -> Path:
    """Return the lock file for `name`; raise ValueError for a name that is not a job id or `_name`."""
    if not LOCK_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid lock name")
    return state_dir / "locks" / f"{name}.lock"


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _read_holder(fd: int) -> LockHolder | None:
    try:
        raw = orjson.loads(os.pread(fd, 4096, 0))
        return LockHolder(int(raw["pid"]), datetime.fromisoformat(raw["since"]).astimezone(UTC))
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None  # being written right now, or cleared by a holder that just let go


def lock_holder(state_dir: Path, name: str) -> LockHolder | None:
    """Given a lock name (a job id), return who holds it, or None when it is free.

    The lock is taken and let go at once when free; a busy lock whose holder has not yet written
    its pid is reported with pid 0.
    """
    path = lock_path(state_dir, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateError(f"cannot read lock {path}: {error.strerror or error}") from None
    try:
        if _try_flock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        for _ in range(5):
            holder = _read_holder(fd)
            if holder is not None:
                return holder
            time.sleep(_RETRY_PAUSE)
        return LockHolder(0, datetime.now(UTC))
    finally:
        os.close(fd)


class StateLock:
    """A named, non-blocking, exclusive lock in the state dir; use it as a context manager."""

    def __init__(self, state_dir: Path, name: str) -> None:
        self.state_dir = state_dir
        self.name = name
        self.path = lock_path(state_dir, name)
        self._fd: int | None = None
        self.since: datetime | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def busy_message(self, holder: LockHolder | None) -> str:
        """The message of the JobBusyError raised when another process holds the lock."""
        if holder is None or holder.pid == 0:
            return f"{self.name} is locked by another process"
        return f"{self.name} is locked by pid {holder.pid} since {holder.since:%Y-%m-%d %H:%M:%S} UTC"

    def acquire(self) -> Self:
        """Take the lock and record this process in it; raise JobBusyError when another process
        holds it, StateError when the lock file cannot be created."""
        if self._fd is not None:
            raise StateError(f"{self.path} is already held by this lock object")
        ensure_private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise unwritable(self.path, error, "create the lock") from None
        try:
            deadline = time.monotonic() + ACQUIRE_PATIENCE
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    raise JobBusyError(self.busy_message(_read_holder(fd)))
                time.sleep(_RETRY_PAUSE)
            os.fchmod(fd, 0o600)
            self.since = datetime.now(UTC).replace(microsecond=0)
            note = orjson.dumps({"pid": os.getpid(), "since": self.since.isoformat().replace("+00:00", "Z")})
            os.ftruncate(fd, 0)
            os.pwrite(fd, note + b"\n", 0)
        except OSError as error:  # a full, read-only or foreign state dir: a clear error, not a bug
            os.close(fd)
            raise unwritable(self.path, error, "write the lock") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Let the lock go (clearing the holder note first); do nothing when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


class JobLock(StateLock):
    """The lock a process holds while it runs a job: `with JobLock(state_dir, "photos"): ...`."""

    def __init__(self, state_dir: Path, job: str) -> None:
        super().__init__(state_dir, job)

    def busy_message(self, holder: LockHolder | None) -> str:
        if holder is None or holder.pid == 0:
            return f"{self.name} is already running in another process"
        return (
            f"{self.name} is already running (pid {holder.pid}, since {holder.since:%Y-%m-%d %H:%M:%S} UTC)"
        )
