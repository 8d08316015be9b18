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
import gc
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backupplan.errors import StateError
from backupplan.fsutil import ensure_private_dir, remove_stale_temporaries
from backupplan.journal import records as types
from backupplan.journal.files import UnwritableError, open_private
from backupplan.journal.health import TORN_TAIL_SHOWN_FOR, JournalHealth, JournalProblem
from backupplan.journal.locks import lock_holder
from backupplan.journal.reader import LOCK_FILE
from backupplan.journal.records import (
    Record,
    format_timestamp,
    parse_timestamp,
    raw_record,
    rfc3339,
)
from backupplan.journal.state import State
from backupplan.journal.writer import JournalWriter

DEFAULT_KEEP_RUNS = 50
COMPACT_AFTER_RECORDS = 10_000  # records after the checkpoint that trigger an automatic compaction


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


class Journal(JournalWriter):
    """One process's handle on a state dir's journal; create it with `Journal.open`."""

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
            _refuse_shared(self.state_dir)
            remove_stale_temporaries(self.state_dir)
            self._lock_fd = open_private(self.state_dir / LOCK_FILE, os.O_RDWR)
            self._fd = open_private(self.path, os.O_RDWR | os.O_APPEND)
        if self._fd is None:
            return
        self._adopt(self._fd)
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
        """The folded state as of the last read; updated in place by append and refresh. Read it
        through this property each time: a reload (after two compactions elsewhere between two
        reads, or a journal cut shorter by hand) replaces the object."""
        return self._state

    @property
    def health(self) -> JournalHealth:
        """Size and problems of the journal, as of the last read."""
        with self._mutex:
            return JournalHealth(
                self.path, self._state.records, self._state.last_seq, tuple(self._problems()), self.read_only
            )

    @property
    def last_compaction(self) -> str | None:
        """When the journal was last compacted (the `ts` of the checkpoint it starts with, as
        `2026-11-28T02:00:41.123Z`), as of the last read; None when it never was."""
        return self._checkpoint_at

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

    # -- noticing what other processes wrote -----------------------------------------------------

    def changed(self) -> bool:
        """True when the journal file changed since the last read (one `stat`, no reading)."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return self._fd is not None
        return (status.st_dev, status.st_ino) != self._identity or status.st_size != self._offset

    def describes(self, status: os.stat_result) -> bool:
        """True when a `stat` of the journal file shows what the state was folded from: the same
        file, read to its end (nothing appended since by another process)."""
        with self._mutex:
            return (status.st_dev, status.st_ino) == self._identity and status.st_size == self._offset

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


def _refuse_shared(state_dir: Path) -> None:
    """Refuse a state dir that others may write to (and that is not ours to tighten): whoever can
    write there can forge journal records or hold our locks."""
    status = state_dir.stat()
    if status.st_mode & 0o022:
        raise StateError(
            f"the state dir {state_dir} can be written by other users (mode "
            f"{status.st_mode & 0o777:o}, owner uid {status.st_uid}); make it yours and private "
            f"(chown and chmod 700) or set settings.state_dir to another folder"
        )
