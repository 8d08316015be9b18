"""`backupplan logs [JOB] [--run ID|--last] [--grep RE] [--since D] [--lines N] [--follow] [--export F]`.

Each line is shown as `job run | 2026-11-28T02:00:01Z [rsync] text`: secrets masked, terminal escape
sequences removed and control characters shown as `\\xNN` (a log holds whatever the programs
printed), matches of --grep highlighted when the output is a terminal.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from backupplan.commands.status import StateLocation, locate_state
from backupplan.errors import BackupplanError
from backupplan.logs.search import byte_search
from backupplan.logs.view import LogLine, all_log_files, job_log_files, read_recent_log_lines, run_of
from backupplan.secrets import mask, registry

DEFAULT_LINES = 500
HIGHLIGHT = {"fg": "red", "bold": True}


def display_text(line: LogLine) -> str:
    """Given a log line, return it as shown and exported: `job run | time [tag] text`, secrets
    masked, escape sequences removed, control characters visible."""
    body = f"{line.time} [{line.tag}] {line.text}" if line.tag else line.text
    text = mask(f"{line.job} {line.run} | {body}")
    if text.isascii() and text.isprintable():
        return text  # as neutralise returns it, without importing the site (and jinja2) for it
    from backupplan.site.text import neutralise

    return neutralise(text)


def highlighted(text: str, pattern: re.Pattern[str]) -> str:
    """Given a displayed line and the --grep pattern, return it with every match styled."""
    pieces: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        if match.start() == match.end():
            continue
        pieces += [text[position : match.start()], click.style(match.group(0), **HIGHLIGHT)]  # type: ignore[arg-type]
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces)


def compile_grep(pattern: str | None) -> re.Pattern[str] | None:
    """Given --grep, return the case-insensitive regular expression; raise BadParameter when it is
    not one."""
    if pattern is None:
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise click.BadParameter(
            f"{pattern!r} is not a regular expression: {error}; "
            "escape special characters with a backslash, e.g. 'exit \\(23\\)'",
            param_hint="--grep",
        ) from None


def matcher(pattern: re.Pattern[str] | None) -> Callable[[LogLine], bool] | None:
    """Given the --grep pattern, return the filter on log lines (None: keep every line)."""
    if pattern is None:
        return None
    search = pattern.search
    return lambda line: search(display_text(line)) is not None


# Anything but printable ASCII, and what masking looks at in URLs (`://`) and tokens (`=`).
_NOT_PLAIN = re.compile(rb"[^\x20-\x3c\x3e-\x7e]|://")


def quick_skip(pattern: re.Pattern[str] | None) -> Callable[[str, str, bytes], bool] | None:
    """Given the --grep pattern, return the pre-filter that drops a raw log line without parsing it
    when it certainly does not match (for patterns not searched in bytes, and files that
    `backupplan.logs.search` reads line by line): a plain line (printable ASCII, nothing secret
    masking would change, a space after its tag's `]`) of a job and run whose ids are plain too is
    shown as exactly `job run | line`, so the pattern can be tried on that. Every other line goes the
    whole way (parse, mask, make safe, match)."""
    if pattern is None:
        return None
    secrets = registry.values()
    search = pattern.search
    not_plain = _NOT_PLAIN.search
    plain_ids: dict[tuple[str, str], bool] = {}

    def skip(job: str, run: str, raw: bytes) -> bool:
        if not_plain(raw):
            return False
        bracket = raw.find(b"]")
        if bracket >= 0 and raw[bracket + 1 : bracket + 2] != b" ":
            return False  # `… [tag]text` is shown with a space after the tag
        ids = (job, run)
        if ids not in plain_ids:  # `q?token=x` as a job name is shown masked: not itself
            plain_ids[ids] = not not_plain(f"{job} {run}".encode())
        if not plain_ids[ids]:
            return False
        shown = f"{job} {run} | {raw.decode('ascii')}"
        if any(secret in shown for secret in secrets):
            return False
        return search(shown) is None

    return skip


def since_stamp(since: str | None, now: datetime) -> str | None:
    """Given --since (a duration like 2h), return the timestamp lines must not be older than."""
    if since is None:
        return None
    from backupplan.units import DURATION_HINT, parse_duration

    try:
        seconds = parse_duration(since)
    except ValueError:
        raise click.BadParameter(
            f"{since!r} is not a duration; {DURATION_HINT}", param_hint="--since"
        ) from None
    return (now - timedelta(seconds=seconds)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def select_files(
    location: StateLocation, job: str | None, run: str | None, last: bool
) -> dict[str, list[Path]]:
    """Given the arguments, return the log files to read (job -> files, newest first); raise
    BadParameter for an unknown job, BackupplanError for a run without a log."""
    logs_dir = location.state_dir / "logs"
    if job is not None:
        known = set(location.jobs)
        if (logs_dir / job).is_dir():
            known.add(job)
        if job not in known:
            from backupplan.commands.history import unknown_job

            known |= set(all_log_files(logs_dir))
            raise unknown_job(job, known)
        files = {job: job_log_files(logs_dir / job)}
    else:
        files = all_log_files(logs_dir)
    if run is not None:
        return _run_files(files, job, run)
    if last:
        newest = [(paths[0], job_id) for job_id, paths in files.items() if paths]
        if not newest:
            return {}
        path, job_id = max(newest, key=lambda item: (run_of(item[0])[:16], item[0].stat().st_mtime_ns))
        return {job_id: [path]}
    return files


def _run_files(files: dict[str, list[Path]], job: str | None, run: str) -> dict[str, list[Path]]:
    """The log of run `run` (its id, or the start of it when only one run's id starts so)."""
    exact = [(job_id, path) for job_id, paths in files.items() for path in paths if run_of(path) == run]
    found = exact or [
        (job_id, path) for job_id, paths in files.items() for path in paths if run_of(path).startswith(run)
    ]
    where = f" of {job}" if job else ""
    if not found:
        raise BackupplanError(
            f"no log of run {run!r}{where} in the state dir; `backupplan history JOB` lists runs "
            "(logs of old runs are pruned: settings.log_retention.runs)"
        )
    if len(found) > 1:
        shown = ", ".join(f"{job_id} {run_of(path)}" for job_id, path in found[:5])
        raise BackupplanError(f"{run!r} matches {len(found)} runs{where} ({shown}); give more of the id")
    job_id, path = found[0]
    return {job_id: [path]}


def write_export(path: str, texts: list[str]) -> None:
    """Write the lines to `path` (0600: logs show paths and file names), replacing it atomically."""
    from backupplan.fsutil import atomic_write

    data = "".join(text + "\n" for text in texts).encode("utf-8", "backslashreplace")
    try:
        atomic_write(Path(path), data, mode=0o600)
    except OSError as error:
        raise BackupplanError(f"cannot write {path}: {error.strerror or error}") from None


def logs_command(
    plan_path: str,
    job: str | None,
    *,
    state_dir: str | None,
    run: str | None = None,
    last: bool = False,
    grep: str | None = None,
    since: str | None = None,
    lines: int = DEFAULT_LINES,
    follow: bool = False,
    export: str | None = None,
    now: datetime | None = None,
) -> int:
    """Print (or export) the last `lines` log lines that match; with `follow`, keep printing new
    lines of running runs. Return 0 (Ctrl-C ends --follow quietly, with 0)."""
    if run is not None and last:
        raise click.UsageError("give either --run or --last, not both")
    if follow and export is not None:
        raise click.UsageError("--follow cannot be combined with --export")
    pattern = compile_grep(grep)
    cutoff = since_stamp(since, now or datetime.now(UTC))
    location = locate_state(plan_path, state_dir, light=True)
    try:
        files = select_files(location, job, run, last)
    except PermissionError as error:
        raise BackupplanError(
            f"cannot read the logs in {location.state_dir}: {error.strerror}; "
            "run backupplan as the user that runs the backups"
        ) from None
    keep = matcher(pattern)
    limit = lines or None
    if follow:
        followed = run_of(files[next(iter(files))][0]) if (run is not None or last) and files else None
        if (run is not None or last) and followed is None:
            click.echo(_nothing_message(files, job, filtered=False), err=True)
            return 0
        return follow_logs(location, files, job=job, run=followed, pattern=pattern, since=cutoff, limit=limit)
    found = read_recent_log_lines(
        location.state_dir / "logs",
        limit,
        files=files,
        keep=keep,
        since=cutoff,
        skip=quick_skip(pattern),
        search=byte_search(pattern),
    )
    texts = [display_text(line) for line in found]
    if export is not None:
        write_export(export, texts)
        click.echo(f"Wrote {len(texts)} line{'s' if len(texts) != 1 else ''} to {export}.")
        return 0
    styled = pattern is not None and sys.stdout.isatty()
    for text in texts:
        click.echo(highlighted(text, pattern) if styled and pattern is not None else text)
    if not texts:
        click.echo(_nothing_message(files, job, filtered=pattern is not None or cutoff is not None), err=True)
    return 0


def _nothing_message(files: dict[str, list[Path]], job: str | None, *, filtered: bool) -> str:
    if filtered and any(files.values()):
        return "No log lines match."
    if job is not None:
        return f"{job} has no logs yet."
    return "No logs yet: every run writes one (STATE_DIR/logs/<job>/<run>.log)."


def follow_logs(
    location: StateLocation,
    files: dict[str, list[Path]],
    *,
    job: str | None,
    run: str | None,
    pattern: re.Pattern[str] | None,
    since: str | None,
    limit: int | None,
) -> int:
    """Print the backlog, then new lines as they are written, until the followed run ends; with
    neither a job nor a run, keep following every job's runs until Ctrl-C. Ctrl-C ends it quietly
    with 0: it is how a follow is meant to stop."""
    from backupplan.journal import Journal
    from backupplan.logs.follow import POLL_INTERVAL, Follower

    styled = pattern is not None and sys.stdout.isatty()
    keep = matcher(pattern)

    def echo(line: LogLine) -> None:
        text = display_text(line)
        click.echo(highlighted(text, pattern) if styled and pattern is not None else text)

    journal = Journal.open(location.state_dir, read_only=True, keep_runs=location.keep_runs)
    try:
        follower = Follower(journal, job=job, run=run, keep=keep)
        ends = follower.start([path for paths in files.values() for path in paths])
        for line in read_recent_log_lines(
            location.state_dir / "logs",
            limit,
            files=files,
            keep=keep,
            since=since,
            ends=ends,
            skip=quick_skip(pattern),
            search=byte_search(pattern),
        ):
            echo(line)
        if job is not None and run is None and not follower.following:
            click.echo(f"{job} is not running; waiting for its next run (Ctrl-C to stop).", err=True)
        while not follower.finished:
            time.sleep(POLL_INTERVAL)
            for line in follower.poll():
                echo(line)
            for note in follower.take_notes():
                click.echo(f"backupplan: {note}", err=True)
    except KeyboardInterrupt:
        return 0
    finally:
        journal.close()
    return 0
