"""Reading the journal file: replay from the top (checkpoint, then records), catching up with
appends and compactions of other processes, cutting a torn tail, reporting damage.

`JournalFile` holds one process's position in the file; `store.Journal` builds the public API on
it. Everything here that writes (cutting a tail, recording damage) runs with the journal lock held.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from backupplan.journal import checkpoint
from backupplan.journal import records as types
from backupplan.journal.files import copy_aside, unwritable
from backupplan.journal.fold import Folder
from backupplan.journal.records import CHECKPOINT, FORMAT_VERSION, Record, decode_line
from backupplan.journal.scan import Damage, Scanner
from backupplan.journal.state import MIN_HISTORY, State

JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "journal.lock"
READ_CHUNK = 16 * 1024 * 1024
FIRST_LINE_CHUNK = 1024 * 1024
UNSEEN_LIMIT = 10_000  # records from other processes kept for `refresh` between two calls


class JournalFile:
    """One process's view of `STATE_DIR/journal.jsonl`: where it has read to and what it folded."""

    def __init__(
        self,
        state_dir: Path,
        *,
        keep_runs: int,
        read_only: bool,
        clock: Callable[[], datetime],
        compact_after: int | None,
    ) -> None:
        self.state_dir = state_dir
        self.path = state_dir / JOURNAL_FILE
        self.read_only = read_only
        self._clock = clock
        self._history_limit = max(keep_runs, MIN_HISTORY)
        self._compact_after = compact_after
        self._next_compaction = compact_after or 0
        self._mutex = threading.RLock()
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._offset = 0  # bytes read and folded: the end of the last good line
        self._line = 0  # lines before `_offset`
        self._expected = 1  # the seq the next record must have
        self._tail_start = 0  # where the records after the checkpoint begin
        self._checkpoint_at: str | None = None  # `ts` of the checkpoint the file starts with
        self._tail_records = 0
        self._state = State(history_limit=self._history_limit)
        self._folder = Folder(self._state)
        self._damage: dict[str, Damage] = {}
        self._newer: list[dict[str, Any]] = []
        self._unrepaired_tail: tuple[int, int] | None = None  # (offset, bytes), read-only readers
        self._unwritable: str | None = None
        self._broken: str | None = None
        self._unseen: deque[dict[str, Any]] = deque(maxlen=UNSEEN_LIMIT)

    # -- provided by store.Journal ---------------------------------------------------------------

    def _append_locked(
        self,
        type: str,
        *,
        job: str | None = None,
        run: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Record:
        raise NotImplementedError

    def _compact_locked(self) -> None:
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold `journal.lock` (exclusive to write, shared to read); re-entrant within a process."""
        with self._mutex:
            if self._lock_fd is None or self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            fcntl.flock(self._lock_fd, fcntl.LOCK_SH if self.read_only else fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _adopt(self, fd: int) -> None:
        """Read from (and append to) `fd` from now on; remember which file it is."""
        self._fd = fd
        status = os.fstat(fd)
        self._identity = (status.st_dev, status.st_ino)

    def _start_after_checkpoint(self, raw: dict[str, Any], length: int) -> None:
        """The file starts with the checkpoint `raw`, `length` bytes with its newline: records
        follow it, from seq `raw["seq"] + 1` on."""
        self._checkpoint_at = raw["ts"]
        self._offset = self._tail_start = length
        self._line = 1
        self._expected = raw["seq"] + 1
        self._tail_records = 0

    def _load_from_start(self) -> None:
        """Start over from the top of the file: a checkpoint (if the first line is one), then records."""
        self._state = State(history_limit=self._history_limit)
        self._folder = Folder(self._state)
        self._offset = self._line = self._tail_start = self._tail_records = 0
        self._expected = 1
        self._damage.clear()  # offsets of an earlier file mean nothing in this one
        self._newer.clear()
        self._checkpoint_at = None
        first = self._first_line()
        raw = decode_line(first) if first is not None else None
        if first is not None and raw is not None and raw["type"] == CHECKPOINT:
            self._use_checkpoint(raw, first)
            self._start_after_checkpoint(raw, len(first) + 1)
        self._read_new(None, settled=False)

    def _use_checkpoint(self, raw: dict[str, Any], line: bytes) -> None:
        data = raw.get("data") or {}
        version = data.get("format") if isinstance(data, dict) else None
        if raw.get("v") != FORMAT_VERSION or (isinstance(version, int) and version > 1):
            self._newer.append(raw)
            self._state.last_seq = raw["seq"]
            return
        try:
            self._state = checkpoint.load(data, raw["seq"], self._history_limit)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            self._state.last_seq = raw["seq"]
            fingerprint = f"checkpoint:0:{len(line)}"
            self._damage[fingerprint] = Damage(
                "checkpoint",
                0,
                1,
                f"the checkpoint on line 1 cannot be read ({error}); the history it held is missing",
                fingerprint,
            )
        self._folder = Folder(self._state)

    def _first_line(self) -> bytes | None:
        assert self._fd is not None
        chunks: list[bytes] = []
        position = 0
        while chunk := os.pread(self._fd, FIRST_LINE_CHUNK, position):
            end = chunk.find(b"\n")
            if end >= 0:
                chunks.append(chunk[:end])
                return b"".join(chunks)
            chunks.append(chunk)
            position += len(chunk)
        return None

    def _sync(self, collect: deque[dict[str, Any]] | None) -> None:
        """Catch up with the file (lock held): follow a compaction done elsewhere, read new records,
        cut a torn tail, report new damage."""
        if self._fd is None:
            if self.read_only:
                with contextlib.suppress(OSError):
                    self._adopt(os.open(self.path, os.O_RDONLY | os.O_CLOEXEC))
                    self._load_from_start()
            return
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            if not self.read_only:
                self._compact_locked()  # deleted by hand: write back what this process knows
            return
        if (status.st_dev, status.st_ino) != self._identity:
            self._follow_replacement(collect)
        elif status.st_size < self._offset:
            self._load_from_start()  # cut shorter by hand: start over from what is there
        self._read_new(collect, settled=self._lock_fd is not None)
        self._report_new_damage()

    def _follow_replacement(self, collect: deque[dict[str, Any]] | None) -> None:
        """Another process compacted (or someone restored a copy): finish the old file, switch."""
        assert self._fd is not None
        self._read_new(collect, settled=False)
        seen = self._state.last_seq
        flags = os.O_RDONLY if self.read_only else os.O_RDWR | os.O_APPEND
        os.close(self._fd)
        self._adopt(os.open(self.path, flags | os.O_CLOEXEC))
        self._damage.clear()  # a compaction elsewhere means there was none (or it was repaired)
        self._newer.clear()
        first = self._first_line()
        raw = decode_line(first) if first is not None else None
        if first is not None and raw is not None and raw["type"] == CHECKPOINT and raw["seq"] == seen:
            # The usual case: the checkpoint sums up exactly what this process has already folded.
            self._start_after_checkpoint(raw, len(first) + 1)
        else:
            self._load_from_start()

    def _read_new(self, collect: deque[dict[str, Any]] | None, *, settled: bool) -> None:
        """Fold the good lines after `_offset`. `settled` (the lock is held, so nobody is writing)
        means bad bytes at the end are a torn tail, which a writer cuts off."""
        assert self._fd is not None
        fold = self._folder.apply
        handler: Callable[[dict[str, Any]], None] = fold
        if collect is not None:

            def handler(raw: dict[str, Any]) -> None:
                fold(raw)
                collect.append(raw)

        scanner = Scanner(self._offset, self._line, self._expected, handler)
        position = self._offset
        rest = b""
        while chunk := os.pread(self._fd, READ_CHUNK, position):
            position += len(chunk)
            rest = scanner.feed(rest + chunk if rest else chunk)
        for damage in scanner.damage:
            self._damage.setdefault(damage.fingerprint, damage)
        self._newer.extend(scanner.newer)
        self._offset, self._line, self._expected = scanner.end, scanner.end_line, scanner.expected
        # Records kept but not folded (a newer format) still take their sequence numbers.
        self._state.last_seq = max(self._state.last_seq, self._expected - 1)
        self._tail_records += scanner.scanned
        tail = scanner.tail(position)
        self._unrepaired_tail = None
        if tail and settled:
            if self.read_only:
                self._unrepaired_tail = (scanner.end, tail)
            else:
                self._cut_tail(position)

    def _cut_tail(self, size: int) -> None:
        """Remove the bytes after the last good line, keeping a copy when whole lines go with them."""
        assert self._fd is not None
        offset = self._offset
        copy = None
        if self._tail_has_whole_line(offset, size):
            copy = str(self._copy_aside("journal.torn"))
        try:
            os.ftruncate(self._fd, offset)
            os.fsync(self._fd)
        except OSError as error:
            raise unwritable(self.path, error, "cut the torn end off the journal") from None
        self._append_locked(
            types.TORN_TAIL, data={"bytes": size - offset, "offset": offset, "quarantine": copy}
        )

    def _tail_has_whole_line(self, offset: int, size: int) -> bool:
        assert self._fd is not None
        position = offset
        while position < size:
            chunk = os.pread(self._fd, min(READ_CHUNK, size - position), position)
            if not chunk or b"\n" in chunk:
                return bool(chunk)
            position += len(chunk)
        return False

    def _copy_aside(self, prefix: str) -> Path:
        try:
            return copy_aside(self.path, prefix, self._clock())
        except OSError as error:
            raise unwritable(self.state_dir, error, "keep a copy of the journal in") from None

    def _report_new_damage(self) -> None:
        """Damage not reported before: one copy of the journal aside, one record per damage."""
        new = [item for item in self._damage.values() if item.fingerprint not in self._state.known_damage]
        if not new or self.read_only or self._lock_fd is None:
            return
        copy = str(self._copy_aside("journal.damaged"))
        for item in new:
            self._append_locked(
                types.DAMAGED,
                data={
                    "fingerprint": item.fingerprint,
                    "kind": item.kind,
                    "offset": item.offset,
                    "line": item.line,
                    "message": item.message,
                    "quarantine": copy,
                },
            )
