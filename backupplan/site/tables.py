"""The big repeated parts of pages, written in Python: badges, names, change counts, history rows,
job list rows.

A job page holds up to hundreds of history rows, and a site up to thousands of jobs; drawn with
template macros they made a full build of 1,000 jobs x 100 runs take ten seconds. Here each row is
one f-string, and every value in it goes through `cell`: masked, neutralised, clipped and escaped,
exactly like a value printed by a template.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

from markupsafe import Markup, escape

from backupplan.logs.view import LogLine
from backupplan.site.data import JsonDict
from backupplan.site.masking import mask_value as mask
from backupplan.site.text import (
    display,
    format_bytes,
    format_number,
    format_seconds,
    format_time,
    with_breaks,
)
from backupplan.site.views import Badge, JobView, badge, job_href

_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
# A job name this short fits a phone's line: in a table it never wraps (docs/site.md, "Narrow
# screens"); a longer one wraps only after `/`, `-` or `_`.
SHORT_NAME = 28
CHANGE_KINDS = (("added", "+"), ("changed", "~"), ("deleted", "−"))


def cell(value: object, limit: int = 2000) -> str:
    """Given a value from the data, return it as safe HTML text (masked, neutralised, escaped)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return str(escape(display(mask(text), limit)))


def breakable(value: object, limit: int = 2000) -> str:
    """A name or path as safe HTML that wraps only after `/`, `-` or `_` (see text.with_breaks)."""
    return with_breaks(cell(value, limit))


def job_link(job_id: str, root: str) -> str:
    """A link to a job's page: a short name kept on one line (Chromium breaks at a `<wbr>` even in
    `nowrap` text, so it gets none), a longer one wrapping only after `/`, `-` or `_`."""
    if len(job_id) <= SHORT_NAME:
        return f'<a class="name" href="{root}{job_href(job_id)}">{cell(job_id, 200)}</a>'
    return f'<a href="{root}{job_href(job_id)}">{breakable(job_id, 200)}</a>'


def _count(value: object) -> int:
    return value if type(value) is int and value > 0 else 0


def change_counts(run: JsonDict) -> tuple[int, int, int] | None:
    """Given a RunSummary, return (added, changed, deleted), or None when it did not count them."""
    changes = run.get("changes")
    if not isinstance(changes, dict):
        return None
    return _count(changes.get("added")), _count(changes.get("changed")), _count(changes.get("deleted"))


def change_words(counts: tuple[int, int, int]) -> str:
    """`3 added, 1 changed, 2 deleted` (kinds with none left out), or `nothing changed`."""
    parts = [f"{count:,} {kind}" for count, (kind, _) in zip(counts, CHANGE_KINDS, strict=True) if count]
    return ", ".join(parts) or "nothing changed"


def changes_cell(run: JsonDict, href: str | None = None) -> str:
    """A run's changes, compact (`+3 ~1 −2`, `0` when nothing changed, `—` when not counted), with
    the words for screen readers and as a tooltip; a link to the published list when there is one."""
    counts = change_counts(run)
    if counts is None:
        return "—"
    words = change_words(counts)
    short = " ".join(
        f"{sign}{count:,}" for count, (_, sign) in zip(counts, CHANGE_KINDS, strict=True) if count
    )
    inner = f'<span aria-hidden="true">{short or "0"}</span><span class="vh">{words}</span>'
    if href:
        return f'<a class="changes" href="{href}" title="{words}">{inner}</a>'
    return f'<span class="changes" title="{words}">{inner}</span>'


def time_cell(value: object) -> str:
    """A timestamp as safe HTML: the contract's own form needs no masking or escaping."""
    if isinstance(value, str) and _CANONICAL_TIME.match(value):
        return f"{value[:10]} {value[11:16]} UTC"
    return cell(format_time(value))


@functools.lru_cache(maxsize=64)
def _badge_markup(key: str, words: str, icon: str) -> str:
    return (
        f'<span class="badge status-{key}"><span class="icon" aria-hidden="true">{icon}</span> {words}</span>'
    )


def badge_html(status: object) -> Markup:
    """A run's or job's status as a badge: icon and words."""
    item = badge(status)
    return Markup(_badge_markup(item.key, item.words, item.icon))  # noqa: S704 - fixed vocabulary


def badges_html(items: Iterable[Badge], job_id: str | None = None) -> Markup:
    """A job's badges; with `job_id`, marked for the live updater (`data-job-badges`)."""
    items = list(items)
    inner = "".join(_badge_markup(item.key, item.words, item.icon) for item in items)
    if job_id is None:
        return Markup(f'<span class="badges">{inner}</span>')  # noqa: S704 - fixed vocabulary
    keys = " ".join(item.key for item in items)
    return Markup(  # noqa: S704 - the id went through cell()
        f'<span class="badges" data-job-badges="{cell(job_id)}" data-shown="{keys}">{inner}</span>'
    )


def log_cell(href: str | None, root: str) -> str:
    """The Log column: a link to the published log, or a dash."""
    return f'<a href="{root}{href}">log</a>' if href else '<span class="muted">—</span>'


def _status_cell(run: JsonDict) -> str:
    reason = run.get("reason")
    extra = f'<br><span class="reason">{cell(reason)}</span>' if reason else ""
    return f"{badge_html(run.get('status'))}{extra}"


def _code(code: object) -> str:
    if code is None:
        return "—"
    return str(code) if type(code) is int else cell(code)


def history_rows(
    history: Iterable[JsonDict],
    log_href: Callable[[JsonDict], str | None],
    root: str,
    changes_href: Callable[[JsonDict], str | None] = lambda run: None,
) -> Markup:
    """The rows of a job page's history table, newest first."""
    rows = []
    for run in history:
        code = run.get("exit_code")
        listed = changes_href(run) if run.get("changes") else None
        rows.append(
            f"<tr><td>{_status_cell(run)}</td><td>{time_cell(run.get('started_at'))}</td>"
            f"<td>{format_seconds(run.get('duration'))}</td><td>{format_bytes(run.get('bytes'))}</td>"
            f"<td>{format_number(run.get('files'))}</td>"
            f"<td>{changes_cell(run, listed and root + listed)}</td><td>{_code(code)}</td>"
            f"<td>{format_number(run.get('attempts'))}</td><td>{log_cell(log_href(run), root)}</td></tr>"
        )
    return Markup("\n".join(rows))  # noqa: S704 - every value went through cell() or a number formatter


def job_row(job: JobView, root: str, strip: str) -> str:
    """A job's row of the jobs list, with `strip`, its last runs (history.run_strip), drawn already."""
    status = job.status
    description = status.get("description")
    about = f'<br><span class="muted">{cell(description)}</span>' if description else ""
    schedule = status.get("schedule")
    when = f"<code>{cell(schedule)}</code>" if schedule else '<span class="muted">manual</span>'
    last = job.last_run
    last_cell = (
        f"{time_cell(last.get('started_at'))} {badge_html(last.get('status'))}"
        if last
        else '<span class="muted">never</span>'
    )
    return (
        f'<tr data-job="{cell(job.id)}"><td>{job_link(job.id, root)}{about}</td>'
        f"<td>{badges_html(job.badges, job.id)}</td><td>{when}</td>"
        f"<td>{time_cell(status.get('next_run'))}</td><td>{last_cell}</td>"
        f"<td>{changes_cell(last or {})}</td><td>{strip}</td></tr>"
    )


def log_row(line: LogLine) -> str:
    """A line of logs.html: its time, job, tag and text, each marked for the page's search."""
    return (
        f'<li data-job="{cell(line.job)}"><time class="hl">{cell(line.time)}</time> '
        f'<span class="log-job hl">{cell(line.job)}</span> '
        f'<span class="log-tag hl">[{cell(line.tag)}]</span> '
        f'<span class="log-text hl">{cell(line.text)}</span></li>'
    )
