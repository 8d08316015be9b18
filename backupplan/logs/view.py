"""Reading run logs: the last lines across jobs, filtered, for the site's logs page and `logs`.

The runner writes `STATE_DIR/logs/<job>/<run-id>.log`, one record per line,
`2026-11-28T02:00:01Z [rsync] text`. Run ids start with their start time, so file names sort by
age, and the runs of one job never overlap (a job's lock allows one run at a time). The last N
lines across all jobs are therefore a merge of each job's files read newest first, each file read
from its end: a read touches the newest file of each job and a few blocks of it, however many
lines the state directory holds. Filters (a predicate, a time floor) are applied while merging, so
"the last 500 lines that match" stops as soon as 500 matched or the lines got older than the floor.

Following running runs (`backupplan logs --follow`) is in `backupplan.logs.follow`; finding the
lines `logs --grep` keeps in whole blocks of bytes, not line by line, in `backupplan.logs.search`.
"""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import chain, groupby, islice
from pathlib import Path
from typing import Protocol

BLOCK = 64 * 1024
LONGEST_LINE = 1024 * 1024  # longer lines are cut: a runaway tool must not make a read take gigabytes
CUT_KEEPS = 1000  # characters kept of a line cut for being longer than LONGEST_LINE
WAITING_LINES = 1000
RECORD = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) \[([A-Za-z0-9_-]{1,20})\] ?(.*)$", re.S)
_TIMESTAMPED = re.compile(r"^\d{8}T\d{6}")
STAMP_LENGTH = len("20261128T020000Z")

Shorten = Callable[[str], str]
FileLines = Generator["LogLine", None, bool]  # a file's kept lines; returns True when `since` ended them


@dataclass(frozen=True)
class LogLine:
    """One log record: which job and run it came from, and its parts. A line of the file that is
    not a record (a continuation) has no tag and the time of the record before it."""

    job: str
    run: str
    time: str
    tag: str
    text: str


def _same(text: str) -> str:
    return text


def parse_line(job: str, run: str, raw: bytes, fallback_time: str, shorten: Shorten = _same) -> LogLine:
    """Given a raw line from a log file, return its LogLine; a line that is not a record keeps all
    of its text and takes `fallback_time` (the time of the record before it) for ordering. Bytes
    that are not UTF-8 become `\\xNN`; `shorten` is applied to the text (the site clips it)."""
    text = raw.rstrip(b"\r").decode("utf-8", "backslashreplace")
    match = RECORD.match(text)
    if match is None:
        return LogLine(job, run, fallback_time, "", shorten(text))
    return LogLine(job, run, match[1], match[2], shorten(match[3]))


def lines_backwards(path: Path, end: int | None = None) -> Iterator[bytes]:
    """Given a file, yield its non-empty lines last first, reading blocks from the end (or from
    byte `end`); a line longer than LONGEST_LINE is yielded cut (its end) and the rest skipped."""
    with path.open("rb") as handle:
        position = os.fstat(handle.fileno()).st_size
        if end is not None:
            position = min(position, end)
        tail = b""
        cutting = False
        while position > 0:
            step = min(BLOCK, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step) + tail
            pieces = chunk.split(b"\n")
            tail = pieces[0]
            for piece in reversed(pieces[1:]):
                if cutting:
                    cutting = False
                    continue
                if piece:
                    yield cut_line(piece)
            if len(tail) > LONGEST_LINE:
                if not cutting:
                    yield cut_line(tail)
                cutting = True
                tail = b""
        if tail and not cutting:
            yield cut_line(tail)


def cut_line(line: bytes) -> bytes:
    """Given a line, return it, or its end marked as cut when it is longer than LONGEST_LINE."""
    if len(line) <= LONGEST_LINE:
        return line
    return b"[line cut: longer than 1 MiB] " + line[-CUT_KEEPS:]


def job_log_files(job_dir: Path) -> list[Path]:
    """Given a job's log folder, return its `.log` files newest first: by name when every name
    starts with a run id's timestamp, by modification time otherwise."""
    try:
        entries = [entry for entry in os.scandir(job_dir) if entry.name.endswith(".log") and entry.is_file()]
    except OSError:
        return []
    if not all(_TIMESTAMPED.match(entry.name) for entry in entries):
        entries.sort(key=lambda entry: entry.stat().st_mtime_ns, reverse=True)
        return [Path(entry.path) for entry in entries]
    entries.sort(key=lambda entry: entry.name, reverse=True)
    # Run ids sort by start time to the second only: of runs started in the same second, the one
    # written last is the newest (one stat per such run, and only for them).
    ordered: list[os.DirEntry[str]] = []
    for _, group in groupby(entries, key=lambda entry: entry.name[:STAMP_LENGTH]):
        same_second = list(group)
        if len(same_second) > 1:
            same_second.sort(key=lambda entry: (entry.stat().st_mtime_ns, entry.name), reverse=True)
        ordered += same_second
    return [job_dir / entry.name for entry in ordered]


def all_log_files(logs_dir: Path) -> dict[str, list[Path]]:
    """Given STATE_DIR/logs, return each job's log files, newest first, by job id; {} when the
    folder is missing."""
    try:
        entries = sorted((entry for entry in os.scandir(logs_dir) if entry.is_dir()), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    return {entry.name: job_log_files(Path(entry.path)) for entry in entries}


def run_of(path: Path) -> str:
    """The run id of a log file: its name without `.log`."""
    name = path.name
    return name[: -len(".log")] if name.endswith(".log") else name


def _older(raw: bytes, since: bytes) -> bool:
    """True when `raw` is a record stamped to the second (what the runner writes) before `since`."""
    return raw[19:22] == b"Z [" and raw[:20] < since


class FileSearch(Protocol):
    """A faster way to the kept lines of one file (`backupplan.logs.search.ByteSearch`): given
    what `each_line(end)` would read, it yields and returns exactly the same."""

    def file_lines(
        self,
        job: str,
        path: Path,
        end: int | None,
        since: bytes | None,
        keep: Callable[[LogLine], bool],
        each_line: Callable[[int | None], FileLines],
    ) -> FileLines: ...


def job_lines(
    job: str,
    files: Iterable[Path | str],
    *,
    shorten: Shorten = _same,
    ends: Mapping[str, int] | None = None,
    since: str | None = None,
    skip: Callable[[str, str, bytes], bool] | None = None,
    keep: Callable[[LogLine], bool] | None = None,
    search: FileSearch | None = None,
) -> Iterator[LogLine]:
    """Given a job's log files newest first, yield their lines newest first, those `keep` accepts.
    `ends` (path -> byte offset) stops reading a file at that offset: what a follower has not read
    yet stays unread. `since` ends the stream at the first record older than it (runs of a job do
    not overlap, so everything after it is older too). `skip(job, run, raw)` may drop a line before
    it is parsed: a cheap pre-filter, which must drop only lines `keep` would drop. `search` (with
    `keep`) finds the kept lines of each file without reading it line by line."""
    cutoff = since.encode() if since is not None else None
    for name in files:
        path = name if isinstance(name, Path) else Path(name)
        end = ends.get(str(path)) if ends else None
        each_line = partial(_file_lines, job, path, since=cutoff, shorten=shorten, skip=skip, keep=keep)
        try:
            if search is not None and keep is not None and shorten is _same:
                stopped = yield from search.file_lines(job, path, end, cutoff, keep, each_line)
            else:
                stopped = yield from each_line(end)
        except OSError:
            continue  # removed by retention while we read it: its lines are gone from the record too
        if stopped:
            return


def _file_lines(
    job: str,
    path: Path,
    end: int | None,
    *,
    since: bytes | None,
    shorten: Shorten,
    skip: Callable[[str, str, bytes], bool] | None,
    keep: Callable[[LogLine], bool] | None,
) -> FileLines:
    """Yield the lines of one log file (read up to byte `end`) newest first, those `keep` accepts;
    return True when a record older than `since` ended them (see job_lines)."""
    run = run_of(path)
    # A line that is not a record continues the record before it: it takes that record's time,
    # which reading backwards is only known once the record itself is read.
    waiting: list[bytes] = []
    fallback = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for raw in lines_backwards(path, end):
        if since is not None and _older(raw, since):
            return True
        if skip is not None and skip(job, run, raw):
            if waiting and (record := RECORD.match(raw.decode("utf-8", "backslashreplace"))):
                yield from _stamped(job, run, waiting, record[1], shorten, keep)
                waiting = []
            continue
        line = parse_line(job, run, raw, "", shorten)
        if not line.time:
            waiting.append(raw)
            if len(waiting) > WAITING_LINES:  # a file of no records: do not read it all
                yield from _stamped(job, run, waiting, fallback, shorten, keep)
                waiting = []
            continue
        yield from _stamped(job, run, waiting, line.time, shorten, keep)
        waiting = []
        if keep is None or keep(line):
            yield line
    yield from _stamped(job, run, waiting, fallback, shorten, keep)
    return False


def _stamped(
    job: str, run: str, raws: list[bytes], time: str, shorten: Shorten, keep: Callable[[LogLine], bool] | None
) -> Iterator[LogLine]:
    """The lines `raws` (not records) with the time `time`, those `keep` accepts."""
    lines = (parse_line(job, run, raw, time, shorten) for raw in raws)
    return lines if keep is None else filter(keep, lines)


def read_recent_log_lines(
    logs_dir: Path,
    limit: int | None = 500,
    *,
    files: Mapping[str, Iterable[Path | str]] | None = None,
    keep: Callable[[LogLine], bool] | None = None,
    since: str | None = None,
    shorten: Shorten = _same,
    ends: Mapping[str, int] | None = None,
    skip: Callable[[str, str, bytes], bool] | None = None,
    search: FileSearch | None = None,
) -> list[LogLine]:
    """Given STATE_DIR/logs, return the last `limit` log lines across all jobs, oldest first
    (None: no limit).

    Reads each job's files newest first and from their ends, merging jobs by time, and stops as soon
    as `limit` lines are known. `files` (job id -> its log files, newest first), when the caller
    knows them, saves listing every job's folder and narrows the read to those files. Only lines
    for which `keep` is true count (`skip` and `search`, see job_lines, find them faster);
    `since` (a `2026-11-28T02:00:00Z` timestamp) stops at the first older line. A missing folder
    gives no lines.
    """
    if limit is not None and limit <= 0:
        return []
    if files is None:
        files = all_log_files(logs_dir)
    streams: list[tuple[str | None, Iterator[LogLine]]] = []
    for job, job_files in files.items():
        remaining = iter(job_files)
        newest = next(remaining, None)
        if newest is None:
            continue
        stream = job_lines(
            job,
            chain([newest], remaining),
            shorten=shorten,
            ends=ends,
            since=since,
            skip=skip,
            keep=keep,
            search=search,
        )
        streams.append((_newest_possible(newest), stream))
    newest_first = _merge_newest_first(streams)
    if since is not None:
        newest_first = _until_older(newest_first, since)
    lines = list(islice(newest_first, limit))
    lines.reverse()
    return lines


def _newest_possible(path: Path | str) -> str | None:
    """The newest time a line of a job's newest log file can carry: the file's modification time
    to the second (each line is stamped before it is written); None when it cannot be read."""
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(modified, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Newest:
    """A heap entry that puts the newest line first (heapq keeps the smallest on top); of lines of
    the same time, the one of the earlier stream comes first, as in heapq.merge."""

    __slots__ = ("index", "line", "stream")

    def __init__(self, line: LogLine, index: int, stream: Iterator[LogLine]) -> None:
        self.line, self.index, self.stream = line, index, stream

    def __lt__(self, other: _Newest) -> bool:
        if self.line.time != other.line.time:
            return self.line.time > other.line.time
        return self.index < other.index


def _merge_newest_first(streams: list[tuple[str | None, Iterator[LogLine]]]) -> Iterator[LogLine]:
    """Merge streams of lines (each newest first) into one, newest first. Each stream comes with
    the newest time it can hold (None: unknown); a stream is first read only when that time could
    beat the lines already in hand, so of a thousand quiet jobs only the recent few are opened."""
    order = sorted(range(len(streams)), key=lambda index: streams[index][0] or "\uffff", reverse=True)
    heap: list[_Newest] = []
    waiting = 0
    while True:
        while waiting < len(order):
            index = order[waiting]
            bound, stream = streams[index]
            if heap and bound is not None and bound < heap[0].line.time:
                break
            waiting += 1
            first = next(stream, None)
            if first is not None:
                heapq.heappush(heap, _Newest(first, index, stream))
        if not heap:
            return
        top = heap[0]
        yield top.line
        following = next(top.stream, None)
        if following is None:
            heapq.heappop(heap)
        else:
            top.line = following
            heapq.heapreplace(heap, top)


def _until_older(lines: Iterator[LogLine], since: str) -> Iterator[LogLine]:
    for line in lines:
        if line.time < since:
            return
        yield line
