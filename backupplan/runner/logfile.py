"""Per-run log files: `STATE_DIR/logs/<job>/<run-id>.log`.

One line per record: `2026-11-28T02:00:01Z [rsync] text`. The tag is `backupplan` for backupplan's
own lines, the engine's name for what rsync/rclone printed, and `hook` for hook output. Program
output that is not UTF-8 is kept as `\\xNN` escapes; every line is secret-masked before it is
written. Files are 0600 in 0700 folders. Progress ticks are not logged (status.json has them).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from backupplan.fsutil import ensure_private_dir
from backupplan.secrets import mask

MAX_LINE = 8192  # a single record longer than this is cut (the rest is noted, not kept)
FLUSH_BYTES = 64 * 1024  # program output is written in batches: one syscall per line costs too much
FLUSH_SECONDS = 0.5  # …but never held back longer than this (`logs --follow` reads the file live)


def log_path(state_dir: Path, job: str, run: str) -> Path:
    return state_dir / "logs" / job / f"{run}.log"


def stamp(moment: datetime | None = None) -> str:
    """`moment` (else now) as a log line's time, to the second."""
    if moment is not None:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _second(int(time.time()))


@functools.lru_cache(maxsize=2)  # rsync prints a line per file: each second is formatted once
def _second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunLog:
    """An open run log. Writes never raise: a log that cannot be written must not stop a backup;
    the first failure is kept in `error` so the run can report it. backupplan's own lines are
    written at once; program output is batched (at most FLUSH_SECONDS late)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._first_pending = 0.0
        try:
            ensure_private_dir(path.parent.parent)  # STATE_DIR/logs
            ensure_private_dir(path.parent)  # STATE_DIR/logs/<job>
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            os.fchmod(self._fd, 0o600)
        except OSError as error:
            self.error = f"cannot write the log {path}: {error.strerror or error}"
        except Exception as error:  # StateError from ensure_private_dir
            self.error = str(error)

    def line(self, tag: str, text: str, *, batch: bool = False) -> None:
        """Append one line (several if `text` has newlines) tagged `tag`; with `batch`, it may
        wait up to FLUSH_SECONDS for company."""
        if self._fd is None:
            return
        now = stamp()
        text = mask(text)
        if len(text) <= MAX_LINE and "\n" not in text and not text.endswith("\r"):
            data = f"{now} [{tag}] {text}\n".encode("utf-8", "backslashreplace")  # one line, as it came
        else:
            pieces = []
            for part in text.split("\n"):
                cut = part.rstrip("\r")
                if len(cut) > MAX_LINE:
                    cut = f"{cut[:MAX_LINE]}… ({len(cut) - MAX_LINE} more characters)"
                pieces.append(f"{now} [{tag}] {cut}\n")
            data = "".join(pieces).encode("utf-8", "backslashreplace")
        with self._lock:
            if not self._pending:
                self._first_pending = time.monotonic()
            self._pending.append(data)
            self._pending_size += len(data)
            if (
                not batch
                or self._pending_size >= FLUSH_BYTES
                or time.monotonic() - self._first_pending >= FLUSH_SECONDS
            ):
                self._flush_locked()

    def output(self, tag: str, record: bytes) -> None:
        """Append one record of program output (raw bytes), batched."""
        self.line(tag, record.decode("utf-8", "backslashreplace"), batch=True)

    def _flush_locked(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        try:
            if self._fd is not None and data:
                os.write(self._fd, data)
        except OSError as error:
            self.error = self.error or f"cannot write the log {self.path}: {error.strerror or error}"

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(fd)
            os.close(fd)


def read_tail(path: Path, limit: int = 10_000) -> str:
    """The last `limit` bytes of a log, as text (for notifications and summaries)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "backslashreplace")
    return text if size <= limit else text.split("\n", 1)[-1]


def prune_logs(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` logs in a job's log folder (newest by last write: run ids
    only sort by time to the second)."""
    try:
        logs = sorted(
            (entry for entry in folder.iterdir() if entry.suffix == ".log"),
            key=lambda entry: (entry.stat().st_mtime_ns, entry.name),
        )
    except OSError:
        return []
    removed = []
    for old in logs[: max(0, len(logs) - keep)]:
        with contextlib.suppress(OSError):
            old.unlink()
            removed.append(old)
        with contextlib.suppress(OSError):
            changes_path(old).unlink()  # its changes list goes with it
    return removed


def changes_path(log: Path) -> Path:
    """The changes list kept next to a run's log: `<run>.changes.gz`."""
    return log.with_name(log.name.removesuffix(".log") + ".changes.gz")
