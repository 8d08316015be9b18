"""Each run's changed paths on the site: the start of a run's list on its job page, a few samples
for a held run, and every list published as text next to its run's log.

The runner keeps the paths a run added, changed and deleted as STATE_DIR/logs/<job>/<run>.changes.gz
next to the run's log (gzip text, one line per path, `+ path`, `~ path`, `- path`, the path as the
engine printed it: rsync writes unprintable bytes as `\\#ooo`; see runner.changelist), and only
when the run changed something. The site learns which runs have a list from the counts in their
RunSummary (`changes`), so a run that changed nothing, or never counted, costs no system call.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from markupsafe import Markup, escape

from backupplan.site.data import JsonDict
from backupplan.site.files import ensure_public_dir
from backupplan.site.masking import mask_value
from backupplan.site.tables import change_counts
from backupplan.site.text import display, run_name, shell_word, show_controls, with_breaks
from backupplan.site.views import JobView

KINDS = {"+": "added", "~": "changed", "-": "deleted"}
SIGNS = {"added": "+", "changed": "~", "deleted": "−", "unknown": "?"}
SHOWN_PATHS = 300  # paths listed on a job page; the published file has them all
SAMPLES = 3  # paths of each kind shown for a held run
SCANNED = 5_000  # lines read at most to find those samples
CHUNK = 1 << 20  # bytes of a list decompressed, masked and written at a time
# A path is at most 4,096 bytes (PATH_MAX); a longer line is not one, and is cut here before it is
# masked: masking is quadratic in the length of a run of letters and digits.
LONGEST_LINE = 8192


class Tally(Protocol):
    """What publishing counts (logs.PublishReport)."""

    lists_copied: int
    lists_current: int


def list_source(log: str | None) -> str | None:
    """Given a run's log file (logs.log_source), return where its changes list is kept."""
    if log is None or not log.endswith(".log"):
        return None
    return log[: -len(".log")] + ".changes.gz"


def list_name(run_id: str) -> str:
    """The file name of a run's published changes list, next to its published log."""
    return run_name(run_id) + ".changes.txt"


def has_list(run: JsonDict) -> bool:
    """Whether the runner kept a changes list for `run`: it counted some change."""
    counts = change_counts(run)
    return counts is not None and any(counts)


def last_counted(history: Iterable[JsonDict]) -> JsonDict | None:
    """The newest run that counted its changes (a run in progress has not yet)."""
    return next((run for run in history if isinstance(run.get("changes"), dict)), None)


def publish_list(
    source: str, folder: Path, name: str, mask: Callable[[str], str], tally: Tally, *, recheck: bool
) -> bool:
    """Publish the changes list `source` as folder/`name`: text, masked as every published log is,
    control characters shown as `\\xNN`, 0644, carrying the source's modification time, so that an
    unchanged list costs two stats and is never rewritten. Return whether it is published; False
    when there is no such list. A list cut short (its run was killed) is published as far as it
    can be read, with a last line that says so. With `recheck`, it is written again even when it
    carries the source's time (see publish_job_logs). Raise OSError when the site cannot be written."""
    try:
        source_stat = os.stat(source)
    except OSError:
        return False
    destination = folder / name
    with contextlib.suppress(OSError):
        if not recheck and os.stat(destination).st_mtime_ns == source_stat.st_mtime_ns:
            tally.lists_current += 1
            return True
    ensure_public_dir(folder)
    temporary = folder / f".{name}.{os.getpid()}.tmp"  # cleaned like every temp file of the site
    try:
        with open(temporary, "wb") as output:
            block: list[bytes] = []
            size = 0

            def flush() -> None:
                # whole lines at a time: a secret is never split between two maskings
                text = b"".join(block).decode("utf-8", "backslashreplace")
                output.write(show_controls(mask(text)).encode("utf-8", "backslashreplace"))
                block.clear()

            try:
                with gzip.open(source, "rb") as handle:
                    for line in handle:
                        block.append(_cut(line))
                        size += len(line)
                        if size >= CHUNK:
                            flush()
                            size = 0
            except (OSError, EOFError, zlib.error) as error:
                flush()
                output.write(f"\n[the rest of this list could not be read: {error}]\n".encode())
            flush()
        os.chmod(temporary, 0o644)
        os.utime(temporary, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns))
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    tally.lists_copied += 1
    return True


@dataclass
class ChangedPaths:
    """The start of one run's changes list as a page shows it: (kind, path) lines, each path
    masked, neutralised and clipped; whether the list goes on past them; up to SAMPLES paths of
    each kind; what went wrong reading it."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    more: bool = False
    samples: dict[str, list[str]] = field(default_factory=dict)
    problem: str | None = None


def _cut(line: bytes) -> bytes:
    if len(line) <= LONGEST_LINE:
        return line
    more = len(line.rstrip(b"\n")) - LONGEST_LINE
    return line[:LONGEST_LINE] + f"... [{more:,} more bytes]\n".encode()


def _parse(raw: bytes) -> tuple[str, str]:
    text = _cut(raw).decode("utf-8", "backslashreplace").rstrip("\n")
    kind = KINDS.get(text[:1]) if text[1:2] == " " else None
    return (kind, text[2:]) if kind else ("unknown", text)


def read_changed_paths(
    source: str | None, *, shown: int = SHOWN_PATHS, samples: int = 0
) -> ChangedPaths | None:
    """Given a changes list, return its first `shown` lines and, with `samples`, that many paths of
    each kind found in its first SCANNED lines; None when there is no such list (rotated away
    with its log, or never written)."""
    if source is None:
        return None
    found = ChangedPaths()
    lines: list[tuple[str, str]] = []
    picked: dict[str, list[str]] = {}
    try:
        with gzip.open(source, "rb") as handle:
            for number, raw in enumerate(handle):
                if number >= shown:
                    found.more = True
                    enough = all(len(picked.get(kind, ())) >= samples for kind in KINDS.values())
                    if not samples or number >= SCANNED or enough:
                        break
                kind, path = _parse(raw)
                if number < shown:
                    lines.append((kind, path))
                if samples and kind != "unknown" and len(bucket := picked.setdefault(kind, [])) < samples:
                    bucket.append(path)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, zlib.error) as error:
        found.problem = f"the list could not be read past this point ({error})"
    # Masked in one go (a secret cannot span lines), then each path made safe to show.
    paths = mask_value("\n".join(path for _, path in lines)).split("\n") if lines else []
    if len(paths) != len(lines):  # a secret with a newline in it was masked: one at a time, then
        paths = [mask_value(path) for _, path in lines]
    found.lines = [(kind, display(path, 1000)) for (kind, _), path in zip(lines, paths, strict=True)]
    found.samples = {
        kind: [display(mask_value(path), 300) for path in found_paths] for kind, found_paths in picked.items()
    }
    return found


def paths_html(lines: Iterable[tuple[str, str]]) -> Markup:
    """The paths as list items: a sign for the kind (the list's legend says which), then the path,
    escaped, wrapping only after `/`, `-` or `_`."""
    return Markup(  # noqa: S704 - every path went through escape()
        "\n".join(
            f'<li data-kind="{kind}"><span class="sign">{SIGNS[kind]}</span> '
            f'<span class="path">{with_breaks(str(escape(path)))}</span></li>'
            for kind, path in lines
        )
    )


VERBS = (("deleted", "would delete"), ("changed", "would rewrite"), ("added", "would add"))


@dataclass(frozen=True)
class HeldJob:
    """A held job as its banner shows it: its run, the guard's reason, a few paths of each kind
    with how many there are in all, and its id as a shell word for the commands."""

    view: JobView
    run: JsonDict
    reason: str
    samples: list[tuple[str, list[str], int]]
    word: str


def held_jobs(views: Iterable[JobView], lists: Mapping[str, ChangedPaths | None]) -> list[HeldJob]:
    """Given the jobs and the changes lists read for them, return the held ones, by id."""
    held = []
    for view in views:
        if view.status.get("status") != "held":
            continue
        runs = view.input.history if view.input else []
        run = next((run for run in runs if run.get("status") == "held"), None) or view.last_run or {}
        counts = dict(zip(("added", "changed", "deleted"), change_counts(run) or (0, 0, 0), strict=True))
        found = lists.get(view.id) if last_counted(runs) is run else None  # lists are of that run
        samples = [
            (verb, found.samples[kind], max(counts[kind], len(found.samples[kind])))
            for kind, verb in VERBS
            if found is not None and found.samples.get(kind)
        ]
        reason = run.get("reason")
        held.append(
            HeldJob(
                view,
                run,
                reason if isinstance(reason, str) and reason else "held: the guard stopped the run",
                samples,
                shell_word(view.id),
            )
        )
    return held
