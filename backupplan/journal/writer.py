"""Writing the journal (with `journal.lock` held): one record appended and fsynced, or the whole
file replaced by one checkpoint of the folded state (compaction).

`JournalWriter` adds these steps to `reader.JournalFile`; `store.Journal` builds the public API
on both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from backupplan.errors import StateError
from backupplan.fsutil import atomic_write
from backupplan.journal import checkpoint
from backupplan.journal.files import truncate_back, unwritable
from backupplan.journal.reader import JournalFile
from backupplan.journal.records import (
    CHECKPOINT,
    Record,
    encode_line,
    format_timestamp,
    mask_data,
    raw_record,
)

COMPACT_AFTER_BYTES = 32 * 1024 * 1024


class JournalWriter(JournalFile):
    """The write path of one process's journal handle."""

    def _append_locked(
        self,
        type: str,
        *,
        job: str | None = None,
        run: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Record:
        if self.read_only or self._fd is None:
            raise StateError(f"the journal {self.path} is open read-only; nothing can be recorded")
        if self._broken is not None:
            raise StateError(self._broken)
        raw = raw_record(
            seq=self._expected,
            ts=format_timestamp(self._clock()),
            type=type,
            job=job,
            run=run,
            data=mask_data(data or {}),
        )
        line = encode_line(raw)
        start = self._offset
        try:
            written = os.write(self._fd, line)
            while written < len(line):  # a short write: writing the rest says why (ENOSPC, EFBIG)
                written += os.write(self._fd, line[written:]) or _raise_no_space()
        except OSError as error:
            truncate_back(self._fd, start)
            raise unwritable(self.path, error, "write to the journal") from None
        try:
            os.fsync(self._fd)
        except OSError as error:
            # After a failed fsync the page cache cannot be trusted: stop using this descriptor.
            self._broken = (
                f"cannot write to the journal {self.path}: fsync failed ({error.strerror or error}); "
                "the last record may not be on disk. Check the disk, then run backupplan again"
            )
            truncate_back(self._fd, start)
            raise StateError(self._broken) from None
        self._offset = start + len(line)
        self._line += 1
        self._expected = raw["seq"] + 1
        self._tail_records += 1
        self._folder.apply(raw)
        return Record.from_dict(raw)

    def _blocking_problem(self) -> str | None:
        if self._damage or self._newer:  # what _problems() reports as damaged or newer_format
            return "it has damage or records of a newer format (see `backupplan journal repair`)"
        return None

    def _compact_locked(self) -> None:
        if self.read_only or self._fd is None:
            raise StateError(f"the journal {self.path} is open read-only; it cannot be compacted")
        blocking = self._blocking_problem()
        if blocking is not None:
            raise StateError(f"the journal {self.path} is not compacted: {blocking}")
        raw = raw_record(
            seq=self._state.last_seq,
            ts=format_timestamp(self._clock()),
            type=CHECKPOINT,
            data=checkpoint.dump(self._state),
        )
        line = encode_line(raw)
        try:
            atomic_write(self.path, line, mode=0o600)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except OSError as error:
            raise unwritable(self.path, error, "compact the journal") from None
        os.close(self._fd)
        self._adopt(fd)
        self._start_after_checkpoint(raw, len(line))
        self._next_compaction = self._compact_after or 0

    def _maybe_compact(self) -> None:
        """Compact when the tail passed the threshold; a failure here is not the caller's problem
        (its record is already safe), so it is retried only after as many records again."""
        tail_bytes = self._offset - self._tail_start
        if self.read_only or self._broken is not None or self._compact_after is None:
            return
        if self._tail_records < self._next_compaction and tail_bytes < COMPACT_AFTER_BYTES:
            return
        try:
            self._compact_locked()
        except StateError:
            self._next_compaction = self._tail_records + self._compact_after


def _raise_no_space() -> int:
    raise OSError(28, "No space left on device")  # os.write wrote nothing and raised nothing
