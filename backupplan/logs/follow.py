"""Following run logs as they are written (`backupplan logs --follow`).

The journal says which runs are running (`state.jobs[job].current`); each running run's log file is
read from where the last look stopped. Polling, not inotify: a look costs one `stat` of the journal
and one read per followed file, and works the same on every file system (NFS included).

A run has ended when the journal no longer shows it running. The runner closes the log before it
journals `run.finished`, so the last read after that sees every line. A runner that died without
an end record leaves the run "running" in the journal; its job lock is then free (the kernel
drops a dead holder's flock), which is how the follower tells, and stops following it.

Three modes: one run (follow it until it ends), one job (follow its running run, or the next run
that starts, until that run ends), every job (follow every run that starts, until stopped).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backupplan.errors import StateError
from backupplan.journal import lock_holder
from backupplan.logs.view import BLOCK, LONGEST_LINE, LogLine, cut_line, parse_line, run_of

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.journal.state import RunSummary

POLL_INTERVAL = 0.25  # seconds between looks at the journal and the followed files
OWNER_CHECK_INTERVAL = 1.0  # seconds between checks that a followed run's process is alive
READ_CHUNK = 1024 * 1024

RunKey = tuple[str, str]  # (job, run)


@dataclass
class _Tail:
    """A followed log file: how far it was read, and an incomplete last line kept for later."""

    job: str
    run: str
    path: Path
    offset: int
    pending: bytes = b""
    last_time: str = ""
    owner_checked: float = 0.0


def whole_lines_end(path: Path) -> int:
    """Given a file, return the offset just past its last newline (0 when it has none or is missing):
    where reading the lines that are whole right now stops."""
    try:
        with path.open("rb") as handle:
            position = os.fstat(handle.fileno()).st_size
            while position > 0:
                step = min(BLOCK, position)
                position -= step
                handle.seek(position)
                chunk = handle.read(step)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    return position + newline + 1
    except OSError:
        return 0
    return 0


class Follower:
    """Follows running runs' logs of one state dir; `start()` once, then `poll()` every
    POLL_INTERVAL seconds until `finished` (never, when following every job)."""

    def __init__(
        self,
        journal: Journal,
        *,
        job: str | None = None,
        run: str | None = None,
        keep: Callable[[LogLine], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.logs_dir = journal.state_dir / "logs"
        self.job = job
        self.run = run
        self.keep = keep
        self.clock = clock
        self.finished = False
        self._tails: dict[RunKey, _Tail] = {}
        self._seen: set[RunKey] = set()
        self._notes: list[str] = []

    @property
    def following(self) -> list[tuple[str, str]]:
        """The (job, run) pairs whose logs are being followed right now."""
        return list(self._tails)

    def log_file(self, job: str, run: str) -> Path:
        return self.logs_dir / job / f"{run}.log"

    def start(self, listed: Collection[Path]) -> dict[str, int]:
        """Begin following. `listed` are the log files the caller's backlog reads (listed before
        this call); return, for the running ones, the offset (path -> byte) the backlog must stop
        at: the follower reads on from there, so no line is shown twice or skipped."""
        names = {str(path) for path in listed}
        for path in listed:
            self._seen.add((path.parent.name, run_of(path)))
        self.journal.refresh()
        ends: dict[str, int] = {}
        for key in self._running():
            path = self.log_file(*key)
            offset = 0
            if str(path) in names:
                offset = ends[str(path)] = whole_lines_end(path)
            self._track(key, offset)
        if self.run is not None and not self._tails:
            self.finished = True  # the run is not running: its log is whole already
        return ends

    def poll(self) -> list[LogLine]:
        """Look once: start following runs that began, read what was written since the last look,
        stop following runs that ended. Return the new lines (those `keep` accepts), in order."""
        if self.finished:
            return []
        self.journal.refresh()
        running = self._running()
        lines: list[LogLine] = []
        if self.run is None:
            for key in running:
                if key not in self._seen:
                    self._track(key, 0)
            lines += self._ended_unseen()
        for key, tail in list(self._tails.items()):
            lines += self._read(tail)
            ended = key not in running or self._owner_gone(tail)
            if ended:
                lines += self._read(tail, final=True)
                del self._tails[key]
                if self.run is not None or self.job is not None:
                    self.finished = True
        return lines

    def take_notes(self) -> list[str]:
        """Messages for the person watching (a run whose process is gone), each returned once."""
        notes, self._notes = self._notes, []
        return notes

    # -- what is running ---------------------------------------------------------------------------

    def _wanted(self, job: str, run: str | None = None) -> bool:
        if self.job is not None and job != self.job:
            return False
        return self.run is None or run == self.run

    def _running(self) -> dict[RunKey, RunSummary]:
        found: dict[RunKey, RunSummary] = {}
        for job_id, job in self.journal.state.jobs.items():
            current = job.current
            if current is not None and self._wanted(job_id, current.run):
                found[(job_id, current.run)] = current
        return found

    def _track(self, key: RunKey, offset: int) -> None:
        self._seen.add(key)
        if self.job is not None and self._tails:
            return  # one job runs one run at a time; a second one means the first one ended
        self._tails[key] = _Tail(key[0], key[1], self.log_file(*key), offset, owner_checked=self.clock())

    def _ended_unseen(self) -> list[LogLine]:
        """Runs that started and ended between two looks: show each whole log once."""
        lines: list[LogLine] = []
        for job_id, job in self.journal.state.jobs.items():
            last = job.last_run
            if last is None or not self._wanted(job_id, last.run) or (job_id, last.run) in self._seen:
                continue
            self._seen.add((job_id, last.run))
            path = self.log_file(job_id, last.run)
            if not path.exists():
                continue  # a skipped slot: no log
            tail = _Tail(job_id, last.run, path, 0)
            lines += self._read(tail, final=True)
            if self.job is not None and not self._tails:
                self.finished = True
        return lines

    def _owner_gone(self, tail: _Tail) -> bool:
        """True when the journal still shows the run running but nothing holds its job's lock: the
        process running it died. Checked at most once per OWNER_CHECK_INTERVAL."""
        now = self.clock()
        if now - tail.owner_checked < OWNER_CHECK_INTERVAL:
            return False
        tail.owner_checked = now
        try:
            if lock_holder(self.journal.state_dir, tail.job) is not None:
                return False
        except (ValueError, StateError):
            return False
        self.journal.refresh()  # it may have ended properly just now
        if (tail.job, tail.run) not in self._running():
            return False  # ended properly: the caller sees that on its own
        self._notes.append(
            f"{tail.job}: the process running {tail.run} is gone (it crashed or was killed); "
            "the next backupplan command records the run as interrupted"
        )
        return True

    # -- reading -------------------------------------------------------------------------------------

    def _read(self, tail: _Tail, *, final: bool = False) -> list[LogLine]:
        """Read what `tail`'s file gained since the last read; `final` also takes an incomplete last
        line (the writer has finished)."""
        data = b""
        with contextlib.suppress(OSError):
            fd = os.open(tail.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                while chunk := os.pread(fd, READ_CHUNK, tail.offset + len(data)):
                    data += chunk
            finally:
                os.close(fd)
        tail.offset += len(data)
        pieces = (tail.pending + data).split(b"\n")
        tail.pending = pieces.pop()
        if (final and tail.pending) or len(tail.pending) > LONGEST_LINE:
            pieces.append(tail.pending)
            tail.pending = b""
        lines: list[LogLine] = []
        for raw in pieces:
            if not raw:
                continue
            line = parse_line(tail.job, tail.run, cut_line(raw), tail.last_time)
            if line.tag:
                tail.last_time = line.time
            if self.keep is None or self.keep(line):
                lines.append(line)
        return lines
