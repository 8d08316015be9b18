"""The state dir's two scheduler locks: one daemon at a time, one reconciliation at a time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from backupplan.errors import BackupplanError, JobBusyError

if TYPE_CHECKING:
    from backupplan.journal import StateLock

APPLY_LOCK = "_apply"
APPLY_PATIENCE = 60.0  # seconds to wait for another process's reconciliation


def lock_daemon(state_dir: Path) -> StateLock:
    """Take the state dir's daemon lock; raise BackupplanError naming the running daemon."""
    from backupplan.fsutil import ensure_private_dir
    from backupplan.journal import DAEMON_LOCK, StateLock, lock_holder

    ensure_private_dir(state_dir)
    lock = StateLock(state_dir, DAEMON_LOCK)
    try:
        return lock.acquire()
    except JobBusyError:
        holder = lock_holder(state_dir, DAEMON_LOCK)
        who = (
            f"pid {holder.pid}, since {holder.since:%Y-%m-%d %H:%M:%S} UTC"
            if holder and holder.pid
            else "pid unknown"
        )
        raise BackupplanError(
            f"another backupplan daemon is already running for the state dir {state_dir} ({who}); "
            "stop it first (e.g. `systemctl stop backupplan`), or use `backupplan status` to see what it does"
        ) from None


@contextlib.contextmanager
def apply_lock(state_dir: Path, patience: float = APPLY_PATIENCE) -> Iterator[StateLock]:
    """Hold the state dir's `_apply` lock: one reconciliation at a time (two `apply` started by
    cron in the same minute, or an `apply` and a starting daemon), so a slot is journaled once."""
    from backupplan.journal import StateLock

    lock = StateLock(state_dir, APPLY_LOCK)
    deadline = time.monotonic() + patience
    while True:
        try:
            lock.acquire()
            break
        except JobBusyError:
            if time.monotonic() >= deadline:
                raise BackupplanError(
                    f"another backupplan has been applying the plan in {state_dir} for {patience:.0f}s; "
                    "try again when it is done"
                ) from None
    try:
        yield lock
    finally:
        lock.release()
