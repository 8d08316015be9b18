"""History at a glance: a job's last runs as a strip of marks, and its last 90 days as a calendar.

Both are drawn here at build time, so a page shows them without a script (site.js only extends a
strip with a run that starts while the page is open). A status is always a glyph in a coloured
box, never a colour alone. Every piece of text in them is a fixed word, a canonical time, a number
formatter's output or a name made by text.job_name/run_name, except the job id, which goes through
`tables.cell`; so a strip is one f-string per mark, cheap enough for 30 marks on each of a
thousand jobs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from markupsafe import Markup

from backupplan.site.data import JsonDict
from backupplan.site.tables import cell, time_cell
from backupplan.site.text import format_bytes, format_seconds, parse_time, rfc3339
from backupplan.site.views import BAD, GOOD, STATUS_LABELS

STRIP_RUNS = 30
CALENDAR_DAYS = 90


_WORDS = {key: words for key, (words, _) in STATUS_LABELS.items()}


def status_key(run: JsonDict) -> str:
    """A run's status as the vocabulary of views.STATUS_LABELS has it (`unknown` otherwise)."""
    status = run.get("status")
    return status if isinstance(status, str) and status in STATUS_LABELS else "unknown"


def mark_title(run: JsonDict, key: str) -> str:
    """A mark's tooltip, safe for an attribute: `succeeded, 2026-11-28 02:00 UTC, 41s, 1.0 MiB`
    (`running since …` for a run in progress; what is unknown is left out)."""
    when = time_cell(run.get("started_at"))
    if key == "running":
        return f"running since {when}"
    duration, size = run.get("duration"), run.get("bytes")
    title = f"{_WORDS[key]}, {when}"
    if duration is not None:
        title += f", {format_seconds(duration)}"
    return title if size is None else f"{title}, {format_bytes(size)}"


def run_strip(job_id: str, history: Sequence[JsonDict], root: str, href: Callable[[JsonDict], str]) -> str:
    """Given a job's history (newest first), return its last STRIP_RUNS runs as marks, oldest on the
    left; `href(run)` is where a mark links (the run's log, else the job's page), site-relative.

    The strip carries `data-run-strip` (the job) and `data-last` (when its newest run started), by
    which site.js adds a run that starts later; each mark carries `data-status`. A mark's glyph is
    drawn by the stylesheet, so its name for a screen reader is its title alone."""
    runs = history[:STRIP_RUNS]
    name = cell(job_id, 200)
    marks = []
    for run in reversed(runs):
        key = status_key(run)
        marks.append(f'<a href="{root}{href(run)}" title="{mark_title(run, key)}" data-status="{key}"></a>')
    last = (rfc3339(runs[0].get("started_at")) or "") if runs else ""
    return (
        f'<span class="strip" role="group" aria-label="Last runs of {name}" '
        f'data-run-strip="{name}" data-last="{last}">'
        + ("".join(marks) or '<span class="strip-none">no runs yet</span>')
        + "</span>"
    )


def history_key(history: Sequence[JsonDict]) -> tuple[object, ...]:
    """What a job's strip and its feed entries are kept under between builds (site.reuse): what
    tells its last STRIP_RUNS runs apart from the ones an earlier build saw. How many runs there
    are, the newest run's id and what it shows (it may still be running, or just have ended), and
    the oldest run shown: a run that ended does not change, and runs are only added at the front
    and dropped at the end, so the runs in between are the same when this is."""
    newest = history[0] if history else {}
    oldest = history[min(len(history), STRIP_RUNS) - 1] if history else {}
    return (
        len(history),
        newest.get("run"),
        newest.get("status"),
        newest.get("started_at"),
        newest.get("finished_at"),
        newest.get("duration"),
        newest.get("bytes"),
        newest.get("exit_code"),
        newest.get("reason"),
        oldest.get("run"),
    )


@dataclass(frozen=True)
class Day:
    """How one day looks on the calendar: `key` is its CSS class, `words` what it means."""

    key: str
    glyph: str
    words: str


BACKED_UP = Day("ok", "✓", "backed up")
FAILED = Day("bad", "✗", "failed")
OVERDUE = Day("late", "◷", "overdue")
NOTHING = Day("none", "·", "nothing ran")
UNKNOWN = Day("unknown", "", "not on record")
DAYS = (BACKED_UP, FAILED, OVERDUE, NOTHING, UNKNOWN)


@functools.lru_cache(maxsize=4)
def calendar_dates(today: date, days: int = CALENDAR_DAYS) -> tuple[str, ...]:
    """The last `days` UTC dates up to `today`, oldest first, as `YYYY-MM-DD`."""
    return tuple((today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1))


def _late_since(status: JsonDict, now: datetime) -> str | None:
    """The date from which the job is overdue now, by its deadline (None when it is not)."""
    if status.get("enabled") is False or status.get("status") == "removed":
        return None
    deadline = parse_time(status.get("deadline"))
    if deadline is not None and deadline < now:
        return deadline.astimezone(UTC).date().isoformat()
    return now.astimezone(UTC).date().isoformat() if status.get("overdue") is True else None


@functools.lru_cache(maxsize=4)
def _day_cells(today: date) -> tuple[int, tuple[tuple[str, ...], ...]]:
    """For the days up to `today`: how many empty cells come before the first (its weekday), and
    each day drawn in each of DAYS, by index (a build draws the same 90 days for every job)."""
    dates = calendar_dates(today)
    drawn = tuple(
        tuple(
            f'<span class="day {shown.key}" title="{day}: {shown.words}">{shown.glyph}</span>'
            for day in dates
        )
        for shown in DAYS
    )
    return date.fromisoformat(dates[0]).weekday(), drawn


def _day(run: JsonDict) -> str | None:
    started = run.get("started_at")
    if type(started) is str and len(started) == 20 and started[10] == "T":
        return started[:10]  # the contract's own form, the common case
    stamp = rfc3339(started)
    return None if stamp is None else stamp[:10]


def calendar(history: Sequence[JsonDict], status: JsonDict, now: datetime) -> Markup:
    """Given a job's history (newest first), its JobStatus and the build's clock, return the last
    CALENDAR_DAYS UTC days as a grid of weeks (Monday on top), each day one of DAYS, and a sentence
    that says the same for screen readers.

    A day with a run that succeeded or warned is backed up; else one whose runs all ended badly is
    failed; else a day from the job's current deadline on is overdue (the site knows only the
    current spell: past deadlines are not on record); else, before the oldest run the history holds
    (it keeps the newest 100 runs at least), not on record; else nothing ran."""
    today = now.astimezone(UTC).date()
    dates = calendar_dates(today)
    first = dates[0]
    good: dict[str, int] = {}
    bad: dict[str, int] = {}
    oldest = next((day for day in map(_day, reversed(history)) if day is not None), None)
    for run in history:
        day = _day(run)
        if day is None:
            continue
        if day < first:
            break  # newest first: the rest are older than the calendar
        state = run.get("status")
        if state in GOOD:
            good[day] = good.get(day, 0) + 1
        elif state in BAD:
            bad[day] = bad.get(day, 0) + 1
    late = _late_since(status, now) or "9999"
    before = oldest or ""
    pads, drawn = _day_cells(today)
    cells = ['<span class="pad"></span>'] * pads
    tally = [0] * len(DAYS)  # by index of DAYS: a Day's hash is dear, 90 times a job
    for index, day in enumerate(dates):
        runs_that_day = 0
        if day in good:
            shown, runs_that_day = 0, good[day] + bad.get(day, 0)
        elif day in bad:
            shown, runs_that_day = 1, bad[day]
        elif day >= late:
            shown = 2
        elif day < before:
            shown = 4
        else:
            shown = 3
        tally[shown] += 1
        cell = drawn[shown][index]
        cells.append(cell.replace('">', f' ({runs_that_day} runs)">', 1) if runs_that_day > 1 else cell)
    counts = ", ".join(f"{count} {day.words}" for day, count in zip(DAYS, tally, strict=True) if count)
    legend = "".join(
        f'<li><span class="day {day.key}">{day.glyph}</span> {day.words}</li>'
        for day, count in zip(DAYS, tally, strict=True)
        if count
    )
    legend += "<li>a column a week, Monday on top</li>"
    return Markup(  # noqa: S704 - fixed words, dates and numbers only
        f'<p class="calendar-summary">The {len(dates)} days to {dates[-1]} (UTC): {counts}.</p>'
        f'<div class="calendar" aria-hidden="true">{"".join(cells)}</div>'
        f'<ul class="legend" aria-hidden="true">{legend}</ul>'
    )
