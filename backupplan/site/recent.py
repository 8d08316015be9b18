"""The last log lines across jobs for logs.html, read again only where log files changed.

A build after one run finds the last 500 lines again (backupplan.logs.view merges every job's
newest files by time). Two things make that cheaper for the next build of the same process, and
neither changes the result:

- The merge asks each file for its lines through `KeptLines.file_lines` (a logs.view.FileSearch).
  A file is known by its path, modification time, size and inode, taken before it is read; while
  those are the same, the lines read from it before are given again. So only a file that changed
  (a run's new log, one still being written) is read.
- The merge orders jobs by the newest time their newest file can hold (its modification time to
  the second) and opens a job only when that time could beat the lines in hand. Jobs that are
  quiet since before the oldest line the last build showed are left out of it, and the result is
  checked: when it holds `limit` lines all newer than anything the jobs left out can hold, the merge
  of every job would never have opened them, and gives the same lines. Otherwise every job is
  merged, as without this.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backupplan.logs import view as logview
from backupplan.site.logs import SHOWN_CHARACTERS, LogLine
from backupplan.site.text import clip

_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _every_line(line: LogLine) -> bool:
    return True


def _clipped(line: LogLine) -> LogLine:
    """The line as logs.html shows it: its text clipped (as site.logs.parse_line does)."""
    return LogLine(line.job, line.run, line.time, line.tag, clip(line.text, SHOWN_CHARACTERS))


class _Replayable:
    """A job's log files, newest first, which can be gone through from the start again."""

    def __init__(self, newest: str, remaining: Iterator[str]) -> None:
        self._seen = [newest]
        self._remaining = remaining

    def __iter__(self) -> Iterator[str]:
        index = 0
        while True:
            if index == len(self._seen):
                path = next(self._remaining, None)
                if path is None:
                    return
                self._seen.append(path)
            yield self._seen[index]
            index += 1


@dataclass
class _KeptFile:
    """The lines read from one file so far (newest first, clipped for the page), and whether that
    was all of them (then `stopped` is what reading them returned)."""

    signature: tuple[object, ...]
    lines: list[LogLine]
    done: bool = False
    stopped: bool = False


class KeptLines:
    """read_recent_log_lines for the site, keeping what it read for the next build (see above)."""

    def __init__(self) -> None:
        self._files: dict[str, _KeptFile] = {}
        self._asked: set[str] = set()
        self._found: dict[str, os.stat_result] = {}  # newest files, as this read found them
        self._oldest_shown: str | None = None  # the oldest line the last read gave

    def read(self, logs_dir: Path, limit: int, files: Mapping[str, Iterable[str]]) -> list[LogLine]:
        """Given STATE_DIR/logs and each job's log files, newest first, return the last `limit`
        lines across all jobs, oldest first, clipped for the page (as site.logs.read_recent_log_lines)."""
        self._asked = set()
        self._found = {}
        lines = self._read_recent(logs_dir, limit, files)
        self._found = {}
        for path in [path for path in self._files if path not in self._asked]:
            del self._files[path]
        self._oldest_shown = lines[0].time if lines else None
        return lines

    def _read_recent(self, logs_dir: Path, limit: int, files: Mapping[str, Iterable[str]]) -> list[LogLine]:
        if limit <= 0:
            return []
        cutoff = _second(self._oldest_shown)
        if cutoff is None:
            return self._merge(logs_dir, limit, files)
        # Each job's newest file, and the second its modification time falls in (None: unknown,
        # which the merge puts first). A job is left out when that is two seconds before the
        # oldest line shown last time or earlier: a float's rounding moves it by one at most.
        newest_files: list[tuple[str, str, Iterator[str]]] = []
        wanted: dict[str, Iterable[str]] = {}
        quiet_since = -1
        found = self._found
        with _folder(logs_dir) as (prefix, folder):
            for job, paths in files.items():
                remaining = iter(paths)
                newest = next(remaining, None)
                if newest is None:
                    continue
                newest_files.append((job, newest, remaining))
                try:
                    # From the logs folder: a thousand stats skip walking its path a thousand times.
                    inside = folder is not None and newest.startswith(prefix)
                    stat = os.stat(newest[len(prefix) :], dir_fd=folder) if inside else os.stat(newest)
                    found[newest] = stat
                    second: int | None = int(stat.st_mtime)
                except OSError:
                    second = None
                if second is None or second >= cutoff - 2:
                    wanted[job] = _Replayable(newest, remaining)
                else:
                    quiet_since = max(quiet_since, second)
        if len(wanted) < len(newest_files):
            lines = self._merge(logs_dir, limit, wanted)
            # What the quiet jobs' newest lines can be at the latest (a second later, for rounding).
            latest = datetime.fromtimestamp(quiet_since + 1, UTC).strftime(_STAMP)
            if len(lines) == limit and all(latest < line.time for line in lines):
                return lines
        # Every job, each one's files from its newest again.
        everyone = {
            job: wanted.get(job) or _Replayable(newest, remaining) for job, newest, remaining in newest_files
        }
        return self._merge(logs_dir, limit, everyone)

    def _merge(self, logs_dir: Path, limit: int, files: Mapping[str, Iterable[str]]) -> list[LogLine]:
        return logview.read_recent_log_lines(logs_dir, limit, files=files, keep=_every_line, search=self)

    def file_lines(
        self,
        job: str,
        path: Path,
        end: int | None,
        since: bytes | None,
        keep: Callable[[LogLine], bool],
        each_line: Callable[[int | None], logview.FileLines],
    ) -> logview.FileLines:
        """What `each_line(end)` yields and returns for `path`, with each line's text clipped."""
        name = str(path)
        self._asked.add(name)
        try:
            found = self._found.pop(name, None) or os.stat(path)  # taken by this read, before reading
        except OSError:
            return (yield from each_line(end))  # raises as reading it would: the merge skips it
        signature = (found.st_mtime_ns, found.st_size, found.st_ino, found.st_dev, end, since)
        kept = self._files.get(name)
        if kept is None or kept.signature != signature:
            kept = self._files[name] = _KeptFile(signature, [])
        given = len(kept.lines)
        yield from kept.lines[:given]
        if kept.done:
            return kept.stopped
        reading = each_line(end)
        while True:
            try:
                line = next(reading)
            except StopIteration as finished:
                kept.done, kept.stopped = True, bool(finished.value)
                return kept.stopped
            if given:  # given from what was kept already: read again, not given again
                given -= 1
                continue
            shown = _clipped(line)
            kept.lines.append(shown)
            yield shown


@contextlib.contextmanager
def _folder(logs_dir: Path) -> Iterator[tuple[str, int | None]]:
    """The logs folder's path as files in it start, and the folder open (None when it cannot be)."""
    try:
        folder: int | None = os.open(logs_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        folder = None
    try:
        yield f"{logs_dir}/", folder
    finally:
        if folder is not None:
            os.close(folder)


def _second(stamp: str | None) -> int | None:
    """The Unix second of a line's time (`2026-11-28T02:00:01Z`, maybe with a fraction)."""
    if stamp is None:
        return None
    try:
        return int(datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


RECENT = KeptLines()  # what builds read, for the next build of this process
