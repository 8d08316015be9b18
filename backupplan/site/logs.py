"""Per-run logs: the last lines across all jobs for logs.html, and publishing runs' logs on the site.

The runner writes `STATE_DIR/logs/<job>/<run-id>.log`, one record per line,
`2026-11-28T02:00:01Z [rsync] text`. Run ids start with their start time, so file names sort by
age, and the runs of one job never overlap (a job's lock allows one run at a time). The last N
lines across all jobs are therefore a merge of each job's files read newest first, each file read
from its end: a build touches the newest file of each job and a few blocks of it, however many
lines the state directory holds.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from backupplan.fsutil import atomic_write
from backupplan.site.files import ensure_public_dir
from backupplan.site.text import clip, job_name, run_name

BLOCK = 64 * 1024
LONGEST_LINE = 1024 * 1024  # longer lines are cut: a runaway tool must not make a build read gigabytes
SHOWN_CHARACTERS = 1000
WAITING_LINES = 1000
_RECORD = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) \[([A-Za-z0-9_-]{1,20})\] ?(.*)$", re.S)
_TIMESTAMPED = re.compile(r"^\d{8}T\d{6}")


@dataclass(frozen=True)
class LogLine:
    """One log record as shown on logs.html: which job and run it came from, and its parts."""

    job: str
    run: str
    time: str
    tag: str
    text: str

    def export(self) -> str:
        """The line as the logs page exports it: `time job [tag] text`."""
        return f"{self.time} {self.job} [{self.tag}] {self.text}".strip()


def parse_line(job: str, run: str, raw: bytes, fallback_time: str) -> LogLine:
    """Given a raw line from a log file, return its LogLine; a line that is not a record keeps all
    of its text and takes `fallback_time` (the time of the record before it) for ordering."""
    text = raw.rstrip(b"\r").decode("utf-8", "backslashreplace")
    match = _RECORD.match(text)
    if match is None:
        return LogLine(job, run, fallback_time, "", clip(text, SHOWN_CHARACTERS))
    return LogLine(job, run, match[1], match[2], clip(match[3], SHOWN_CHARACTERS))


def lines_backwards(path: Path) -> Iterator[bytes]:
    """Given a file, yield its non-empty lines last first, reading blocks from the end; a line
    longer than LONGEST_LINE is yielded cut (its end) and the rest of it skipped."""
    with path.open("rb") as handle:
        position = os.fstat(handle.fileno()).st_size
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
                    yield _cut(piece)
            if len(tail) > LONGEST_LINE:
                if not cutting:
                    yield _cut(tail)
                cutting = True
                tail = b""
        if tail and not cutting:
            yield _cut(tail)


def _cut(line: bytes) -> bytes:
    if len(line) <= LONGEST_LINE:
        return line
    return b"[line cut: longer than 1 MiB] " + line[-SHOWN_CHARACTERS:]


def job_log_files(job_dir: Path) -> list[Path]:
    """Given a job's log folder, return its `.log` files newest first: by name when every name
    starts with a run id's timestamp, by modification time otherwise."""
    try:
        entries = [entry for entry in os.scandir(job_dir) if entry.name.endswith(".log") and entry.is_file()]
    except OSError:
        return []
    if all(_TIMESTAMPED.match(entry.name) for entry in entries):
        entries.sort(key=lambda entry: entry.name, reverse=True)
    else:
        entries.sort(key=lambda entry: entry.stat().st_mtime_ns, reverse=True)
    return [Path(entry.path) for entry in entries]


def _job_lines(job: str, files: Iterable[Path | str]) -> Iterator[LogLine]:
    for name in files:
        path = Path(name)
        run = path.name[: -len(".log")]
        try:
            # A line that is not a record continues the record before it: it takes that record's
            # time, which reading backwards is only known once the record itself is read.
            waiting: list[bytes] = []
            fallback = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for raw in lines_backwards(path):
                line = parse_line(job, run, raw, "")
                if not line.time:
                    waiting.append(raw)
                    if len(waiting) > WAITING_LINES:  # a file of no records: do not read it all
                        yield from (parse_line(job, run, earlier, fallback) for earlier in waiting)
                        waiting = []
                    continue
                for earlier in waiting:
                    yield parse_line(job, run, earlier, line.time)
                waiting = []
                yield line
            for earlier in waiting:
                yield parse_line(job, run, earlier, fallback)
        except OSError:
            continue  # removed by retention while we read it: its lines are gone from the record too


def read_recent_log_lines(
    logs_dir: Path, limit: int = 500, *, files: Mapping[str, Iterable[Path | str]] | None = None
) -> list[LogLine]:
    """Given STATE_DIR/logs, return the last `limit` log lines across all jobs, oldest first.

    Reads each job's files newest first and from their ends, merging jobs by time, and stops as soon
    as `limit` lines are known. `files` (job id -> its log files, newest first), when the caller
    knows them from the jobs' histories, saves listing every job's folder. A missing folder gives
    no lines.
    """
    if limit <= 0:
        return []
    if files is None:
        try:
            entries = sorted(
                (entry for entry in os.scandir(logs_dir) if entry.is_dir()), key=lambda entry: entry.name
            )
        except (FileNotFoundError, NotADirectoryError):
            return []
        files = {entry.name: job_log_files(Path(entry.path)) for entry in entries}
    streams = [_job_lines(job, job_files) for job, job_files in files.items()]
    newest_first = heapq.merge(*streams, key=lambda line: line.time, reverse=True)
    lines = list(islice(newest_first, limit))
    lines.reverse()
    return lines


def log_source(state_dir: str, run: Mapping[str, object]) -> str | None:
    """Given a RunSummary, return its log file under STATE_DIR/logs, or None when it has none or
    its path would lead out of that folder (checked on the text: the state dir is private)."""
    relative = run.get("log")
    if not isinstance(relative, str) or not relative.startswith("logs/") or "\x00" in relative:
        return None
    if any(part in ("", ".", "..") for part in relative.split("/")):
        return None
    return f"{state_dir}/{relative}"


@dataclass
class PublishReport:
    """What publishing logs did: files copied, files found up to date, stale files removed."""

    copied: int = 0
    current: int = 0
    removed: int = 0


def publish_job_logs(
    job_id: str,
    history: Iterable[dict[str, object]],
    state_dir: Path,
    site_dir: Path,
    mask: Callable[[str], str],
    report: PublishReport,
) -> None:
    """Copy the logs of the runs in `history` to site/logs/<job>/<run>.txt (masked, 0644) when the
    source changed since the last copy, and delete published logs of runs no longer in `history`.

    `mask` is the site's masking function (text -> text). A copy carries its source's modification
    time, so an unchanged log costs two stats. Copies are not fsynced: the source is durable, and a
    lost copy is made again by the next build.
    """
    target = site_dir / "logs" / job_name(job_id)
    folder = str(target)
    base = str(state_dir)
    wanted: set[str] = set()
    for run in history:
        source = log_source(base, run)
        run_id = run.get("run")
        if source is None or not isinstance(run_id, str):
            continue
        name = run_name(run_id) + ".txt"
        try:
            source_stat = os.stat(source)
        except OSError:
            continue  # pruned by retention, or never written
        wanted.add(name)
        destination = f"{folder}/{name}"
        with contextlib.suppress(OSError):
            if os.stat(destination).st_mtime_ns == source_stat.st_mtime_ns:
                report.current += 1
                continue
        try:
            data = Path(source).read_bytes()
        except OSError:
            wanted.discard(name)
            continue
        text = data.decode("utf-8", "surrogateescape")
        masked = mask(text)
        ensure_public_dir(target)
        atomic_write(Path(destination), masked.encode("utf-8", "surrogateescape"), mode=0o644, durable=False)
        os.utime(destination, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns))
        report.copied += 1
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(target):
            if entry.name.endswith(".txt") and entry.name not in wanted:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    report.removed += 1
        if not wanted:
            shutil.rmtree(target, ignore_errors=True)
