"""Per-run logs on the site: the last lines across all jobs for logs.html, and publishing runs' logs
(and, next to each, its changes list: site.changes).

Reading is shared with `backupplan logs` (backupplan.logs.view): the site only clips each line's text
to what a page can show.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from backupplan.fsutil import atomic_write
from backupplan.logs import view as logview
from backupplan.logs.view import LONGEST_LINE, LogLine, job_log_files, lines_backwards
from backupplan.site.changes import has_list, list_name, list_source, publish_list
from backupplan.site.files import ensure_public_dir
from backupplan.site.text import clip, job_name, run_name

SHOWN_CHARACTERS = 1000

__all__ = [
    "LONGEST_LINE",
    "SHOWN_CHARACTERS",
    "LogLine",
    "PublishReport",
    "job_log_files",
    "lines_backwards",
    "log_source",
    "parse_line",
    "publish_job_logs",
    "read_recent_log_lines",
]


def _shown(text: str) -> str:
    return clip(text, SHOWN_CHARACTERS)


def parse_line(job: str, run: str, raw: bytes, fallback_time: str) -> LogLine:
    """Given a raw line from a log file, return its LogLine as logs.html shows it (text clipped)."""
    return logview.parse_line(job, run, raw, fallback_time, _shown)


def read_recent_log_lines(
    logs_dir: Path, limit: int = 500, *, files: Mapping[str, Iterable[Path | str]] | None = None
) -> list[LogLine]:
    """Given STATE_DIR/logs, return the last `limit` log lines across all jobs, oldest first, each
    clipped for the page (see backupplan.logs.view.read_recent_log_lines)."""
    return logview.read_recent_log_lines(logs_dir, limit, files=files, shorten=_shown)


def log_source(state_dir: str, run: Mapping[str, object]) -> str | None:
    """Given a RunSummary, return its log file under STATE_DIR/logs, or None when it has none or
    its path would lead out of that folder (checked on the text: the state dir is private)."""
    relative = run.get("log")
    if not isinstance(relative, str) or not relative.startswith("logs/") or "\x00" in relative:
        return None
    parts = relative.split("/")
    if "" in parts or "." in parts or ".." in parts:
        return None
    return f"{state_dir}/{relative}"


@dataclass
class PublishReport:
    """What publishing did: logs copied and found up to date, changes lists copied and found up to
    date, stale files removed."""

    copied: int = 0
    current: int = 0
    removed: int = 0
    lists_copied: int = 0
    lists_current: int = 0


def _publish_log(
    source: str, folder: Path, name: str, mask: Callable[[str], str], report: PublishReport, recheck: bool
) -> bool:
    """Copy one log to folder/`name` unless the copy is current (never known with `recheck`);
    return whether it is published."""
    try:
        source_stat = os.stat(source)
    except OSError:
        return False  # pruned by retention, or never written
    destination = f"{folder}/{name}"
    with contextlib.suppress(OSError):
        if not recheck and os.stat(destination).st_mtime_ns == source_stat.st_mtime_ns:
            report.current += 1
            return True
    try:
        data = Path(source).read_bytes()
    except OSError:
        return False
    masked = mask(data.decode("utf-8", "surrogateescape"))
    ensure_public_dir(folder)
    atomic_write(Path(destination), masked.encode("utf-8", "surrogateescape"), mode=0o644, durable=False)
    os.utime(destination, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns))
    report.copied += 1
    return True


def publish_job_logs(
    job_id: str,
    history: Iterable[dict[str, object]],
    state_dir: Path,
    site_dir: Path,
    mask: Callable[[str], str],
    report: PublishReport,
    *,
    recheck: bool,
) -> set[str]:
    """Copy the logs of the runs in `history` to site/logs/<job>/<run>.txt (masked, 0644) when the
    source changed since the last copy, and their changes lists to <run>.changes.txt (see
    changes.publish_list); delete published files of runs no longer in `history`. Return the
    names published.

    `mask` is the site's masking function (text -> text). A copy carries its source's modification
    time, so an unchanged log costs two stats; a run that changed nothing costs none for its list.
    Copies are not fsynced: the source is durable, and a lost copy is made again by the next build.
    With `recheck` (the first build after the machine restarted: site/writer.py), every copy is
    made again, since a power cut may have torn one that carries its source's time.
    """
    target = site_dir / "logs" / job_name(job_id)
    base = str(state_dir)
    wanted: set[str] = set()
    for run in history:
        source = log_source(base, run)
        run_id = run.get("run")
        if source is None or not isinstance(run_id, str):
            continue
        name = run_name(run_id) + ".txt"
        if _publish_log(source, target, name, mask, report, recheck):
            wanted.add(name)
        if has_list(run):
            listed = list_name(run_id)
            if publish_list(list_source(source) or "", target, listed, mask, report, recheck=recheck):
                wanted.add(listed)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(target):
            if entry.name.endswith(".txt") and entry.name not in wanted:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    report.removed += 1
        if not wanted:
            shutil.rmtree(target, ignore_errors=True)
    return wanted
