"""The paths each run changed, kept next to its log as `logs/<job>/<run>.changes.gz` (0600) and
rotated with it: one line per path, `+ ` added, `~ ` changed, `- ` deleted, the path as the engine
printed it (rsync writes unprintable bytes as `\\#ooo`). Read with `backupplan changes JOB`.

Writes never raise: a list that cannot be written must not stop a backup; the first failure is
kept in `error`. A run that changed nothing leaves no file."""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path
from typing import IO

from backupplan.engines.changes import ChangeKind
from backupplan.secrets import mask

PENDING_BYTES = 32 * 1024  # lines gathered before they go to gzip (which buffers its output too)


class ChangeList:
    """An open changes list (created at its first line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self.lines = 0
        self._file: IO[bytes] | None = None
        self._handle: gzip.GzipFile | None = None
        self._pending: list[bytes] = []  # lines not yet handed to gzip: a write per line costs twice
        self._pending_size = 0
        self._lock = threading.Lock()

    def add(self, kind: ChangeKind, name: str) -> None:
        with self._lock:
            if self.error is not None:
                return
            try:
                if self._handle is None:
                    fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                    self._file = os.fdopen(fd, "wb")
                    self._handle = gzip.GzipFile(fileobj=self._file, mode="wb", compresslevel=5)
                line = f"{kind} {mask(name)}\n".encode("utf-8", "backslashreplace")
                self._pending.append(line)
                self._pending_size += len(line)
                self.lines += 1
                if self._pending_size >= PENDING_BYTES:
                    self._write_pending()
            except OSError as error:
                self._failed(error)

    def _failed(self, error: OSError) -> None:
        self.error = (
            self.error or f"the changes list {self.path} could not be written: {error.strerror or error}"
        )

    def _write_pending(self) -> None:
        if self._handle is not None and self._pending:
            self._handle.write(b"".join(self._pending))
        self._pending.clear()
        self._pending_size = 0

    def close(self) -> None:
        with self._lock:
            try:
                self._write_pending()
            except OSError as error:
                self._failed(error)
            handle, self._handle = self._handle, None
            file, self._file = self._file, None
            if handle is None or file is None:
                return
            try:
                handle.close()
                file.close()
            except OSError as error:
                self._failed(error)

    def reset(self) -> None:
        """Forget what was written (a dry run's list, before the transfer writes the same)."""
        self.close()
        with self._lock:
            self.lines = 0
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as error:
                self._failed(error)
