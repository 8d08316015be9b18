"""View models: the status document and job inputs turned into what the templates show.

Templates get plain, already-decided values (labels, hrefs, sort order); they never compute.
Every href is built here from names made by `text.job_name`/`text.run_name`, never from text in
the data, so no `javascript:` or `data:` link can come from a plan, a journal or a log.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from backupplan.site.data import JobInput, JsonDict
from backupplan.site.text import job_name, rfc3339, run_name

# status key -> (words, icon): the icon's shape and the words carry the meaning, colour only helps.
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "never_run": ("never run", "○"),
    "running": ("running", "▶"),
    "paused": ("paused", "‖"),
    "succeeded": ("succeeded", "✓"),
    "warning": ("warning", "!"),
    "failed": ("failed", "✗"),
    "timed_out": ("timed out", "✗"),
    "held": ("held", "⚠"),
    "interrupted": ("interrupted", "↯"),
    "overdue": ("overdue", "◷"),
    "disabled": ("disabled", "⊘"),
    "removed": ("removed", "–"),
    "skipped": ("skipped", "↷"),
    "unknown": ("unknown", "?"),
}
GOOD = frozenset({"succeeded", "warning"})
BAD = frozenset({"failed", "timed_out", "held", "interrupted"})
ENDED = GOOD | BAD


@dataclass(frozen=True)
class Badge:
    """A status shown as an icon and words; `key` picks the CSS class."""

    key: str
    words: str
    icon: str


def badge(status: object) -> Badge:
    """Given a status key from the data, return its Badge (unknown keys show as `unknown`)."""
    key = status if isinstance(status, str) and status in STATUS_LABELS else "unknown"
    words, icon = STATUS_LABELS[key]
    return Badge(key, words, icon)


def job_href(job_id: str) -> str:
    """The site-relative link to a job's page."""
    return f"jobs/{job_name(job_id)}/index.html"


def log_path(job_id: str, run_id: str) -> str:
    """The site-relative path of a run's published log."""
    return f"logs/{job_name(job_id)}/{run_name(run_id)}.txt"


def changes_path(job_id: str, run_id: str) -> str:
    """The site-relative path of a run's published changes list, next to its log."""
    return f"logs/{job_name(job_id)}/{run_name(run_id)}.changes.txt"


_RUN_TIMES = ("finished_at", "started_at")
_TICKS = ("updated_at",)


@dataclass
class JobView:
    """One job as the list, the dashboard and its own page show it."""

    id: str
    name: str
    href: str
    status: JsonDict
    input: JobInput | None
    badges: list[Badge] = field(default_factory=list)

    @property
    def primary(self) -> Badge:
        return self.badges[0]

    @property
    def last_run(self) -> JsonDict | None:
        run = self.status.get("last_run")
        return run if isinstance(run, dict) else None

    @property
    def progress(self) -> JsonDict | None:
        progress = self.status.get("progress")
        return progress if isinstance(progress, dict) else None

    @property
    def updated(self) -> str:
        """When something last happened to this job (for "most recently updated first"): the
        latest of its last run's end and start and its progress's update ("" when none is known)."""
        latest = ""
        for part, fields in (
            (self.status.get("last_run"), _RUN_TIMES),
            (self.status.get("progress"), _TICKS),
        ):
            if isinstance(part, dict):
                for name in fields:
                    value = part.get(name)
                    if isinstance(value, str) and value > latest:
                        latest = value
        return latest


def job_badges(status: JsonDict) -> list[Badge]:
    """Given a JobStatus, return its badges: the main one first, then `overdue` when it applies."""
    main = "disabled" if status.get("enabled") is False else status.get("status", "unknown")
    badges = [badge(main)]
    if status.get("overdue") is True:
        badges.append(badge("overdue"))
    return badges


def overdue_outlook(views: Iterable[JobView]) -> JsonDict:
    """Given the jobs, return what the dashboard needs to recount its Overdue card with the
    reader's clock: how many jobs the document already calls overdue, and how many others (enabled,
    not removed) fall due at each `deadline`, earliest first (docs/site.md). Counts, not ids: a
    1,000-job dashboard carries a few bytes instead of 50 KB."""
    already = 0
    deadlines: dict[str, int] = {}
    for view in views:
        status = view.status
        if status.get("overdue") is True:
            already += 1
        elif status.get("enabled") is not False and status.get("status") != "removed":
            deadline = rfc3339(status.get("deadline"))
            if deadline is not None:
                deadlines[deadline] = deadlines.get(deadline, 0) + 1
    return {"already": already, "deadlines": dict(sorted(deadlines.items()))}


def job_views(statuses: Iterable[JsonDict], inputs: dict[str, JobInput]) -> dict[str, JobView]:
    """Given the status document's jobs and the job inputs, return a JobView per job id, in id order."""
    by_id: dict[str, JsonDict] = {}
    for status in statuses:
        if isinstance(status, dict):
            by_id[str(status.get("id"))] = status
    views: dict[str, JobView] = {}
    for job_id in sorted(set(by_id) | set(inputs)):
        status = by_id.get(job_id) or _status_from_input(inputs[job_id])
        views[job_id] = JobView(
            id=job_id,
            name=job_name(job_id),
            href=job_href(job_id),
            status=status,
            input=inputs.get(job_id),
            badges=job_badges(status),
        )
    return views


def _status_from_input(job: JobInput) -> JsonDict:
    config = job.config or {}
    history = job.history
    return {
        "id": job.id,
        "description": config.get("description"),
        "engine": config.get("engine"),
        "enabled": config.get("enabled", True),
        "status": history[0].get("status", "unknown") if history else "never_run",
        "schedule": config.get("schedule"),
        "next_run": job.next_runs[0] if job.next_runs else None,
        "last_run": history[0] if history else None,
    }


def sorted_for_list(views: Iterable[JobView]) -> list[JobView]:
    """Most recently updated first; jobs that never did anything last, by id."""
    ordered = sorted(views, key=lambda view: view.id)
    return sorted(ordered, key=lambda view: view.updated, reverse=True)


# The dashboard's "at a glance" list shows jobs that need a look first, then the most recent.
ATTENTION = {
    "held": 0,
    "failed": 1,
    "timed_out": 1,
    "interrupted": 2,
    "overdue": 3,
    "warning": 4,
    "running": 5,
}


def _attention(view: JobView) -> int:
    """How much a job needs a look (ATTENTION; 9: not at all), by the most pressing of its badges."""
    return min(ATTENTION.get(item.key, 9) for item in view.badges)


def at_a_glance(ordered: Iterable[JobView], limit: int) -> list[JobView]:
    """Given the jobs in the order of the jobs list (sorted_for_list), return the `limit` the
    dashboard shows with their last runs: held, failed, interrupted, overdue, warned and running
    ones first, then the most recently active."""
    ranked = sorted(ordered, key=_attention)
    return ranked[:limit]


def success_rate(history: Iterable[JsonDict]) -> tuple[int, int]:
    """Given runs, return (good, ended): runs that succeeded (or warned) and runs that ended."""
    good = ended = 0
    for run in history:
        status = run.get("status")
        if status in ENDED:
            ended += 1
            good += status in GOOD
    return good, ended


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Given nested settings or a job config, return (dotted key, value) rows; lists stay whole."""
    if isinstance(data, dict) and data:
        rows: list[tuple[str, Any]] = []
        for key, value in data.items():
            rows.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    return [(prefix, data)]


def value_text(value: Any) -> str:
    """A config or settings value as one line of text: plain for scalars, JSON for the rest."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class SettingRow:
    """One effective setting, its default and whether it differs."""

    key: str
    value: str
    default: str
    differs: bool


def setting_rows(settings: JsonDict, defaults: JsonDict) -> list[SettingRow]:
    """Given effective and default settings, return one row per key, in the effective order."""
    default_rows = dict(flatten(defaults))
    rows = []
    for key, value in flatten(settings):
        default = default_rows.get(key)
        rows.append(SettingRow(key, value_text(value), value_text(default), value != default))
    return rows


@dataclass(frozen=True)
class FeedEntry:
    """A failure or a recovery, for feed.xml."""

    kind: str
    job: str
    run: JsonDict
    time: str
    href: str


FEED_LIMIT = 50


def _feed_order(entry: FeedEntry) -> tuple[str, str]:
    return entry.time, entry.job


def job_feed_entries(view: JobView, history: list[JsonDict], limit: int = FEED_LIMIT) -> list[FeedEntry]:
    """Given a job and its last runs (newest first), return its failures (runs that failed, timed
    out or were interrupted) and recoveries (the first good run after a bad one), the newest
    `limit`, newest first."""
    entries: list[FeedEntry] = []
    if BAD.isdisjoint([run.get("status") for run in history]):
        return entries  # nothing failed: no failure and no recovery to report
    previous_bad = False
    for run in reversed(history):
        status = run.get("status")
        when = run.get("finished_at") or run.get("started_at")
        if not isinstance(when, str):
            continue
        if status in BAD:
            entries.append(FeedEntry("failure", view.id, run, when, view.href))
            previous_bad = True
        elif status in GOOD:
            if previous_bad:
                entries.append(FeedEntry("recovery", view.id, run, when, view.href))
            previous_bad = False
    return heapq.nlargest(limit, entries, key=_feed_order)


FEED_RUNS = 20  # of each job


def job_feed(view: JobView) -> list[FeedEntry]:
    """A job's newest feed entries, from its last FEED_RUNS runs (see job_feed_entries)."""
    return job_feed_entries(view, view.input.history[:FEED_RUNS] if view.input else [])


def feed_entries(
    views: Iterable[JobView], of_job: Callable[[JobView], list[FeedEntry]] = job_feed, limit: int = FEED_LIMIT
) -> list[FeedEntry]:
    """The failures and recoveries among each job's last FEED_RUNS runs, the newest `limit` overall;
    `of_job` gives a job's newest `limit` (job_feed, or what it gave before)."""
    each_job = [of_job(view) for view in views]
    # Each job's are newest first: merging them is sorting all (stably: of one job's entries at the
    # same time, the earlier run first), without touching more than the first of most.
    return list(islice(heapq.merge(*(job for job in each_job if job), key=_feed_order, reverse=True), limit))


def missed_slots(views: Iterable[JobView], limit: int = 20) -> list[tuple[str, JsonDict]]:
    """(job id, slot) for the recent missed schedule slots the status document lists per job
    (`JobStatus.missed`), newest first."""
    found = []
    for view in views:
        for slot in view.status.get("missed") or []:
            if isinstance(slot, dict):
                found.append((view.id, slot))
    found.sort(key=lambda item: str(item[1].get("slot") or ""), reverse=True)
    return found[:limit]
