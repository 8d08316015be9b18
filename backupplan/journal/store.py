"""The journal: `STATE_DIR/journal.jsonl`, shared safely by every backupplan process.

- Appends take `journal.lock` (flock, exclusive), first read what other processes appended (so the
  sequence continues without gaps or repeats), write one line with one `os.write`, fsync, and only
  then return. A failed write is cut back off; a failed fsync is fatal for this Journal object.
- Reads (`refresh`, `watch`) cost one `stat` when nothing changed.
- Opening replays the journal, cuts a torn tail, reports (and copies aside, once) damage in the
  middle, records runs whose owner died as interrupted, and compacts when the tail has grown.

See docs/journal.md for the format, the record types and what happens to damage.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backupplan.errors import StateError
from backupplan.fsutil import atomic_write, ensure_private_dir, remove_stale_temporaries
from backupplan.journal import checkpoint
from backupplan.journal import records as types
from backupplan.journal.files import UnwritableError, copy_aside, open_private, truncate_back, unwritable
from backupplan.journal.fold import Folder
from backupplan.journal.health import TORN_TAIL_SHOWN_FOR, UNHEALTHY, JournalHealth, JournalProblem
from backupplan.journal.locks import lock_holder
from backupplan.journal.records import (
    CHECKPOINT,
    FORMAT_VERSION,
    Record,
    decode_line,
    encode_line,
    format_timestamp,
    mask_data,
    parse_timestamp,
    raw_record,
    rfc3339,
)
from backupplan.journal.scan import Damage, Scanner
from backupplan.journal.state import MIN_HISTORY, State

JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "journal.lock"
DEFAULT_KEEP_RUNS = 50
COMPACT_AFTER_RECORDS = 10_000  # records after the checkpoint that trigger an automatic compaction
COMPACT_AFTER_BYTES = 32 * 1024 * 1024
READ_CHUNK = 16 * 1024 * 1024
FIRST_LINE_CHUNK = 1024 * 1024
UNSEEN_LIMIT = 10_000  # records from other processes kept for `refresh` between two calls


@dataclass(frozen=True)
class RepairReport:
    """What `Journal.repair` dropped and where the copies of the damaged journal are."""

    dropped: list[str]
    quarantine: list[str]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Replay builds many small objects that all live on: collecting them meanwhile is wasted work."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Journal:
    """One process's handle on a state dir's journal; create it with `Journal.open`."""

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
        self._tail_records = 0
        self._state = State(history_limit=self._history_limit)
        self._folder = Folder(self._state)
        self._damage: dict[str, Damage] = {}
        self._newer: list[dict[str, Any]] = []
        self._unrepaired_tail: tuple[int, int] | None = None  # (offset, bytes), read-only readers
        self._unwritable: str | None = None
        self._broken: str | None = None
        self._unseen: deque[dict[str, Any]] = deque(maxlen=UNSEEN_LIMIT)

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        keep_runs: int = DEFAULT_KEEP_RUNS,
        read_only: bool = False,
        clock: Callable[[], datetime] | None = None,
        compact_after: int | None = COMPACT_AFTER_RECORDS,
    ) -> Journal:
        """Open (creating it private when missing) the journal of `state_dir`, replay it, repair a
        torn tail, report damage and record interrupted runs.

        `keep_runs` bounds each job's history (never below 100). The journal compacts itself when
        `compact_after` records (or 32 MiB) follow the checkpoint; None turns that off. A
        `read_only` journal never writes: it reports a torn tail instead of cutting it and shows
        interrupted runs without recording them. Raise UnwritableError (a StateError) naming the
        path when the state dir or the journal cannot be created or written.
        """
        journal = cls(
            state_dir,
            keep_runs=keep_runs,
            read_only=read_only,
            clock=clock or (lambda: datetime.now(UTC)),
            compact_after=compact_after,
        )
        try:
            journal._open()
        except BaseException:
            journal.close()
            raise
        return journal

    @classmethod
    def open_or_read_only(cls, state_dir: Path, **options: Any) -> Journal:
        """Open for writing; when the state dir cannot be written, open read-only and list an
        `unwritable` problem instead of failing (what `status` wants)."""
        try:
            return cls.open(state_dir, **options)
        except UnwritableError as error:
            journal = cls.open(state_dir, read_only=True, **options)
            journal._unwritable = str(error)
            return journal

    def _open(self) -> None:
        if self.read_only:
            with contextlib.suppress(OSError):
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            with contextlib.suppress(OSError):
                self._lock_fd = os.open(self.state_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
        else:
            try:
                ensure_private_dir(self.state_dir)
            except StateError as error:
                raise UnwritableError(str(error)) from None
            remove_stale_temporaries(self.state_dir)
            self._lock_fd = open_private(self.state_dir / LOCK_FILE, os.O_RDWR)[0]
            self._fd = open_private(self.path, os.O_RDWR | os.O_APPEND)[0]
        if self._fd is None:
            return
        status = os.fstat(self._fd)
        self._identity = (status.st_dev, status.st_ino)
        with _gc_paused():
            self._load_from_start()  # the bulk of the work, without holding the lock
            with self._locked():
                self._sync(None)
                self._recover_locked(())
                self._maybe_compact()

    def close(self) -> None:
        """Release the files; the Journal cannot be used afterwards."""
        with self._mutex:
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._fd = self._lock_fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what callers read -----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The folded state as of the last read; updated in place by append and refresh."""
        return self._state

    @property
    def health(self) -> JournalHealth:
        """Size and problems of the journal, as of the last read."""
        with self._mutex:
            return JournalHealth(
                self.path, self._state.records, self._state.last_seq, tuple(self._problems()), self.read_only
            )

    def _problems(self) -> Iterator[JournalProblem]:
        now = self._clock()
        stamp = format_timestamp(now)[:19] + "Z"
        for damage in self._damage.values():
            note = self._state.known_damage.get(damage.fingerprint)
            yield JournalProblem(
                "damaged",
                damage.message,
                rfc3339(note.at) if note else stamp,
                note.quarantine if note else None,
            )
        if self._newer:
            first = self._newer[0]
            count = len(self._newer)
            yield JournalProblem(
                "newer_format",
                f"{count} record{'s' if count != 1 else ''} from seq {first['seq']} on "
                f"{'were' if count != 1 else 'was'} written by a newer backupplan (format {first.get('v')}); "
                "kept but not read: upgrade backupplan",
                stamp,
            )
        for tail in self._state.torn_tails:
            if (now - parse_timestamp(tail.at)).total_seconds() <= TORN_TAIL_SHOWN_FOR:
                yield JournalProblem(
                    "torn_tail",
                    f"a write cut off by a crash or power cut left {tail.bytes} bytes at byte "
                    f"{tail.offset}; they were removed",
                    rfc3339(tail.at),
                    tail.quarantine,
                )
        if self._unrepaired_tail is not None:
            offset, size = self._unrepaired_tail
            yield JournalProblem(
                "torn_tail",
                f"{size} bytes at byte {offset} are not a whole record (a write cut off by a crash); "
                "the next backupplan that can write removes them",
                stamp,
            )
        if self._unwritable is not None:
            yield JournalProblem("unwritable", self._unwritable, stamp)

    # -- appending -------------------------------------------------------------------------------

    def append(
        self,
        type: str,
        *,
        job: str | None = None,
        run: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Record:
        """Append one record (string values in `data` masked) and return it once it is on disk.

        Raise StateError naming the journal when it cannot be written (nothing is recorded then),
        ValueError when `data` is not JSON.
        """
        with self._locked():
            self._sync(self._unseen)
            record = self._append_locked(type, job=job, run=run, data=data)
            self._maybe_compact()
            return record

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

    # -- noticing what other processes wrote -----------------------------------------------------

    def changed(self) -> bool:
        """True when the journal file changed since the last read (one `stat`, no reading)."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return self._fd is not None
        return (status.st_dev, status.st_ino) != self._identity or status.st_size != self._offset

    def refresh(self) -> list[Record]:
        """Read and fold what other processes appended since the last look; return those records."""
        with self._mutex:
            if self.changed():
                with self._locked():
                    self._sync(self._unseen)
            found = [Record.from_dict(raw) for raw in self._unseen]
            self._unseen.clear()
            return found

    def watch(self, interval: float = 0.5, stop: threading.Event | None = None) -> Iterator[list[Record]]:
        """Yield each batch of records other processes append, checking every `interval` seconds,
        until `stop` is set. Idle, it costs one `stat` per interval."""
        stop = stop or threading.Event()
        while not stop.is_set():
            found = self.refresh()
            if found:
                yield found
            stop.wait(interval)

    def wait_for(self, predicate: Callable[[State], bool], timeout: float, interval: float = 0.5) -> bool:
        """Refresh every `interval` seconds until `predicate(state)` holds (True) or `timeout`
        seconds passed (False)."""
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            if predicate(self._state):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(interval, remaining))

    # -- interrupted runs ------------------------------------------------------------------------

    def recover_interrupted(self, holding: Collection[str] = ()) -> list[Record]:
        """Record `run.interrupted {"reason": "crash"}` for every run that started, has no end and
        whose job lock is free (its owner died); return the records appended.

        A caller that holds some job locks itself (and has not started its run yet) names those
        jobs in `holding`: their open runs are stale too. Safe to call from several processes at
        once: each run is recorded exactly once.
        """
        with self._locked():
            self._sync(self._unseen)
            return self._recover_locked(holding)

    def _recover_locked(self, holding: Collection[str]) -> list[Record]:
        appended: list[Record] = []
        for summary in self._state.open_runs():
            if summary.job not in holding and not self._job_lock_free(summary.job):
                continue
            data: dict[str, Any] = {"reason": "crash", **(summary.process or {}), "detected_by": os.getpid()}
            if self.read_only:
                now = format_timestamp(self._clock())
                self._folder.apply_unrecorded(
                    raw_record(
                        seq=self._state.last_seq,
                        ts=now,
                        type=types.RUN_INTERRUPTED,
                        job=summary.job,
                        run=summary.run,
                        data=data,
                    )
                )
                continue
            appended.append(
                self._append_locked(types.RUN_INTERRUPTED, job=summary.job, run=summary.run, data=data)
            )
        return appended

    def _job_lock_free(self, job: str) -> bool:
        try:
            return lock_holder(self.state_dir, job) is None
        except ValueError:
            return True  # not a valid lock name: no process can have held its lock

    # -- compaction and repair -------------------------------------------------------------------

    def compact(self) -> None:
        """Replace the journal with one checkpoint of the folded state (atomically: a crash leaves
        the old or the new file). Raise StateError while damage or newer records are unresolved."""
        with self._locked():
            self._sync(self._unseen)
            self._compact_locked()

    def repair(self) -> RepairReport:
        """Acknowledge damage: rewrite the journal without the damaged lines (their copies stay
        aside) and record `journal.repaired`. Raise StateError when records of a newer format are
        present (upgrade instead: repairing would drop them)."""
        with self._locked():
            self._sync(self._unseen)
            if self._newer:
                raise StateError(
                    f"the journal {self.path} holds records written by a newer backupplan; "
                    "upgrade backupplan instead of repairing (a repair would drop them)"
                )
            damage = list(self._damage.values())
            if not damage:
                return RepairReport([], [])
            copies = sorted(
                {
                    note.quarantine
                    for item in damage
                    if (note := self._state.known_damage.get(item.fingerprint)) and note.quarantine
                }
            )
            self._damage.clear()
            self._compact_locked()
            dropped = [item.message for item in damage]
            self._append_locked(types.REPAIRED, data={"dropped": dropped, "quarantine": copies})
            return RepairReport(dropped, copies)

    def _blocking_problem(self) -> str | None:
        if any(problem.kind in UNHEALTHY for problem in self._problems()):
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
        self._fd = fd
        status = os.fstat(fd)
        self._identity = (status.st_dev, status.st_ino)
        self._offset = self._tail_start = len(line)
        self._line = 1
        self._expected = self._state.last_seq + 1
        self._tail_records = 0
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

    def _load_from_start(self) -> None:
        """Start over from the top of the file: a checkpoint (if the first line is one), then records."""
        self._state = State(history_limit=self._history_limit)
        self._folder = Folder(self._state)
        self._offset = self._line = self._tail_start = self._tail_records = 0
        self._expected = 1
        self._damage.clear()  # offsets of an earlier file mean nothing in this one
        self._newer.clear()
        first = self._first_line()
        raw = decode_line(first) if first is not None else None
        if first is not None and raw is not None and raw["type"] == CHECKPOINT:
            self._use_checkpoint(raw, first)
            self._offset = self._tail_start = len(first) + 1
            self._line = 1
            self._expected = raw["seq"] + 1
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
                    self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                    status = os.fstat(self._fd)
                    self._identity = (status.st_dev, status.st_ino)
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
        self._fd = os.open(self.path, flags | os.O_CLOEXEC)
        status = os.fstat(self._fd)
        self._identity = (status.st_dev, status.st_ino)
        self._damage.clear()  # a compaction elsewhere means there was none (or it was repaired)
        self._newer.clear()
        first = self._first_line()
        raw = decode_line(first) if first is not None else None
        if first is not None and raw is not None and raw["type"] == CHECKPOINT and raw["seq"] == seen:
            # The usual case: the checkpoint sums up exactly what this process has already folded.
            self._offset = self._tail_start = len(first) + 1
            self._line = 1
            self._expected = seen + 1
            self._tail_records = 0
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
        tail = position - scanner.end
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


def _raise_no_space() -> int:
    raise OSError(28, "No space left on device")  # os.write wrote nothing and raised nothing
