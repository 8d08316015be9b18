"""Rendering: the jinja2 environment and one method per page, from gathered data to text.

Templates live in the top-level `site_templates/` of a source checkout; an installed wheel carries
them as `backupplan/site_templates/`. Autoescape is on for every template, and every value printed
goes through `finalize`, which neutralises control characters and clips runaway text, so no
template can forget to.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from backupplan import __version__
from backupplan.site import tables, views
from backupplan.site.charts import line_chart, points_from_history
from backupplan.site.data import JsonDict, SiteInput
from backupplan.site.logs import LogLine
from backupplan.site.masking import mask_value as mask
from backupplan.site.text import (
    display,
    format_bytes,
    format_number,
    format_seconds,
    format_time,
    job_name,
    parse_time,
    rfc3339,
    run_name,
)

PAGE_SIZE = 100


def page_count(jobs: int) -> int:
    """How many pages the jobs list has (one, even for no jobs)."""
    return max(1, -(-jobs // PAGE_SIZE))


CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)
NAV = (
    ("dashboard", "Dashboard", "index.html"),
    ("jobs", "Jobs", "jobs/index.html"),
    ("logs", "Logs", "logs.html"),
    ("settings", "Settings", "settings.html"),
)
HANDLED = {
    "pending": "waiting for backupplan recover",
    "resumed": "run again",
    "paused": "job paused until backupplan resume",
    "dismissed": "dismissed",
}
MISSED = {"run_once": "caught up with one run", "skip": "skipped", "skipped": "skipped", "ran": "caught up"}
# How long after a job's next run a page that run rewrites may go unwritten before it is stale: the
# same allowance the status document gives OS timers (docs/status-json.md, `freshness`).
PAGE_SLACK = timedelta(minutes=10)


def template_dir() -> Path:
    """Given where this module is, return the templates folder: the checkout's top-level
    `site_templates/`, else the copy an installed wheel carries; raise FileNotFoundError naming
    both places when neither exists."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "site_templates", package / "site_templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise FileNotFoundError(
        f"site templates not found in {package.parent / 'site_templates'} or {package / 'site_templates'}"
    )


def _finalize(value: Any) -> Any:
    # Every printed value is masked before it is escaped: a secret is found in its raw form.
    if isinstance(value, Markup):
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return display(mask(value))
    return value


def time_element(value: object) -> Markup:
    """Given a timestamp, return `<time datetime="2026-11-28T02:00:03Z">2026-11-28 02:00 UTC</time>`:
    the absolute time, which is all a page shows without JavaScript; site.js adds "(3 min ago)" from
    the reader's clock. A value that is not a time is shown as text (masked, neutralised, escaped)."""
    stamp = rfc3339(value)
    if stamp is None:
        return escape(display(mask(format_time(value))))
    return Markup(f'<time datetime="{stamp}">{format_time(stamp)}</time>')  # noqa: S704 - made from a parsed time


def _shown(value: object, limit: int = 200) -> str | None:
    """A string from the data as the pages show it (masked, neutralised, clipped); None otherwise."""
    return display(mask(value), limit) if isinstance(value, str) else None


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between processes (compiling them costs ~20 ms a page on every
    `backupplan run`); jinja2 checks each entry against its template's source, so a changed
    template is compiled again. None when no private cache folder can be made."""
    import os

    base = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "backupplan"
        / f"templates-{__version__}"
    )
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        base.chmod(0o700)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(base))


@functools.lru_cache(maxsize=4)
def environment(folder: Path) -> jinja2.Environment:
    """The jinja2 environment for templates in `folder`: autoescape on; a field missing from the
    data renders as nothing."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.ChainableUndefined,  # data from older or newer versions may lack fields
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # The data island (`status_data | tojson`): compact, in the order it was built.
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":")}
    env.globals.update(
        version=__version__,
        csp=CSP,
        nav=NAV,
        badge=views.badge,
        badge_html=tables.badge_html,
        badges_html=tables.badges_html,
        log_cell=lambda href, root: Markup(tables.log_cell(href, root)),  # noqa: S704 - hrefs we built
        job_href=views.job_href,
        bytes=format_bytes,
        seconds=format_seconds,
        number=format_number,
        time=format_time,
        when=time_element,
        progress_text=progress_text,
        handled=lambda key: HANDLED.get(str(key), display(key, 40)),
        missed_action=lambda key: MISSED.get(str(key), display(key, 40)),
    )
    return env


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def progress_text(progress: JsonDict | None) -> str:
    """Given a JobStatus `progress`, return `42% · 1.0 MiB of 2.0 MiB · 5.0 MiB/s · 12s left`."""
    if not progress:
        return "starting"
    parts = []
    percent = progress.get("percent")
    if isinstance(percent, int | float) and not isinstance(percent, bool):
        parts.append(f"{percent:.0f}%")
    done = format_bytes(progress.get("bytes"))
    total = progress.get("total_bytes")
    parts.append(f"{done} of {format_bytes(total)}" if isinstance(total, int | float) else done)
    rate = progress.get("rate")
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        parts.append(f"{format_bytes(rate)}/s")
    eta = progress.get("eta")
    if isinstance(eta, int | float) and not isinstance(eta, bool):
        parts.append(f"{format_seconds(eta)} left")
    return " · ".join(parts)


def jobs_page_path(number: int) -> str:
    """The site-relative path of page `number` of the jobs list."""
    return "jobs/index.html" if number == 1 else f"jobs/page-{number}.html"


class Renderer:
    """Renders every page of one build from one SiteInput and the job views gathered from it."""

    def __init__(
        self,
        data: SiteInput,
        job_views: dict[str, views.JobView],
        log_href: Callable[[JsonDict], str | None],
    ) -> None:
        self.data = data
        self.views = job_views
        self.log_href = log_href
        self.env = environment(template_dir())
        generated_at = rfc3339(data.status.get("generated_at")) or rfc3339(data.now) or ""
        self.common = {
            "refresh": max(1, math.ceil(data.refresh)),
            "generated": format_time(generated_at),
            "generated_at": generated_at,
            "log_href": log_href,
        }
        freshness = data.status.get("freshness")
        freshness = freshness if isinstance(freshness, dict) else None
        self._about: JsonDict = {
            "generated_at": generated_at,
            "host": _shown(data.status.get("host")),
            "freshness": None
            if freshness is None
            else {
                "kept_by": _shown(freshness.get("kept_by"), 40),
                "heartbeat": _number(freshness.get("heartbeat")),
                "expected_by": rfc3339(freshness.get("expected_by")),
            },
        }
        self._rewritten_at_any_run = self._page_expected_by(job_views.values())

    def _render(
        self, template: str, root: str, page: str, status_data: JsonDict | None = None, **context: Any
    ) -> str:
        if status_data is None:
            status_data = self._status_data((), page_expected_by=None)
        return self.env.get_template(template).render(
            **self.common, root=root, page=page, status_data=status_data, **context
        )

    def _page_expected_by(self, rewriting: Iterable[views.JobView]) -> str | None:
        """When a page that the runs of `rewriting` jobs rewrite becomes stale: the earliest of
        their next runs plus PAGE_SLACK (the run's first event rebuilds it), and never before the
        document's own `expected_by`. None when nothing keeps the site or none of them has a next
        run: such a page promises nothing.

        Pages are rewritten at events only (a run started or ended, a plan applied); a daemon's
        heartbeat rewrites only status.json. So a page read without status.json (`file://`) judges
        its own age by this, not by the document's `expected_by`, which a quiet daemon passes
        every few minutes."""
        freshness = self._about["freshness"]
        expected_by = freshness.get("expected_by") if isinstance(freshness, dict) else None
        if not isinstance(expected_by, str) or freshness.get("kept_by") == "manual":
            return None
        runs = [rfc3339(view.status.get("next_run")) for view in rewriting]  # RFC 3339 UTC sorts as text
        earliest = parse_time(min((run for run in runs if run is not None), default=None))
        if earliest is None:
            return None
        return max(expected_by, rfc3339(earliest + PAGE_SLACK) or expected_by)

    def _status_data(self, jobs: Iterable[views.JobView], *, page_expected_by: str | None) -> JsonDict:
        """The page's data island: what site.js needs to judge, against the reader's clock, how old
        the page is and which of the jobs it shows are overdue by now, before the first poll of
        status.json and on `file://`, where there is no poll (docs/site.md). Fields of
        docs/status-json.md, masked like every value shown; a job's fields at their default are
        left out."""
        entries = []
        for view in jobs:
            status = view.status
            state = status.get("status")
            known = isinstance(state, str) and state in views.STATUS_LABELS  # needs no masking
            entry: JsonDict = {"id": display(mask(view.id)), "status": state if known else _shown(state, 40)}
            deadline = rfc3339(status.get("deadline"))
            if deadline is not None:
                entry["deadline"] = deadline
            if status.get("overdue") is True:
                entry["overdue"] = True
            if status.get("enabled") is False:
                entry["enabled"] = False
            if status.get("paused") is True:
                entry["paused"] = True
            entries.append(entry)
        return {**self._about, "page_expected_by": page_expected_by, "jobs": entries}

    def dashboard(self) -> str:
        status = self.data.status
        summary = dict(status.get("summary") or {})
        every = list(self.views.values())
        overdue = [view for view in every if view.status.get("overdue") is True]
        plan = status.get("plan") or {}
        journal = status.get("journal") or {}
        return self._render(
            "index.html",
            "",
            "dashboard",
            status_data=dict(
                self._status_data((), page_expected_by=self._rewritten_at_any_run),
                overdue=views.overdue_outlook(every),
            ),
            summary={
                key: summary.get(key) for key in ("running", "jobs", "bytes_total", "failures_24h", "overdue")
            },
            active=[view for view in every if view.status.get("status") == "running"],
            overdue=overdue[:20],
            overdue_count=len(overdue),
            missed=views.missed_slots(every),
            recent=[run for run in (status.get("recent_runs") or [])[:10] if isinstance(run, dict)],
            interruptions=[
                item for item in (status.get("interruptions") or [])[:10] if isinstance(item, dict)
            ],
            journal_problems=[item for item in journal.get("problems") or [] if isinstance(item, dict)],
            journal_healthy=journal.get("healthy", True) is not False,
            applied_at=plan.get("applied_at") or self.data.paths.applied_at,
            applied_digest=plan.get("applied_digest") or self.data.paths.applied_digest,
            plan_changed=bool(
                plan.get("applied_digest") and plan.get("digest") != plan.get("applied_digest")
            ),
        )

    def jobs_pages(self) -> dict[str, str]:
        """Every page of the jobs list, by site-relative path."""
        ordered = views.sorted_for_list(self.views.values())
        pages = page_count(len(ordered))
        rendered = {}
        for number in range(1, pages + 1):
            shown = ordered[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
            rendered[jobs_page_path(number)] = self._render(
                "jobs.html",
                "../",
                "jobs",
                status_data=self._status_data(shown, page_expected_by=self._rewritten_at_any_run),
                rows=tables.job_rows(shown, "../"),
                total=len(ordered),
                pages=pages,
                page_number=number,
                page_href=jobs_page_path,
            )
        return rendered

    def job_page(self, view: views.JobView) -> str:
        history = view.input.history if view.input else []
        good, ended = views.success_rate(history)
        config = view.input.config if view.input else None
        return self._render(
            "job.html",
            "../../",
            "jobs",
            status_data=self._status_data([view], page_expected_by=self._page_expected_by([view])),
            job=view,
            history=history,
            history_rows=tables.history_rows(history, self.log_href, "../../"),
            good=good,
            ended=ended,
            next_runs=(view.input.next_runs if view.input else [])[:5],
            missed=[slot for slot in view.status.get("missed") or [] if isinstance(slot, dict)][:20],
            config=[(key, views.value_text(value)) for key, value in views.flatten(config)] if config else [],
            duration_chart=line_chart(
                "duration",
                f"Duration of the last runs of {display(mask(view.id), 80)}",
                points_from_history(history, "duration"),
                format_seconds,
            ),
            bytes_chart=line_chart(
                "bytes",
                f"Data transferred by the last runs of {display(mask(view.id), 80)}",
                points_from_history(history, "bytes"),
                format_bytes,
            ),
        )

    def logs_page(self, lines: list[LogLine]) -> str:
        return self._render(
            "logs.html",
            "",
            "logs",
            status_data=self._status_data((), page_expected_by=self._rewritten_at_any_run),
            lines=lines,
            log_jobs=sorted({line.job for line in lines}),
        )

    def settings_page(self) -> str:
        rows = views.setting_rows(self.data.settings, self.data.default_settings)
        return self._render(
            "settings.html",
            "",
            "settings",
            paths=self.data.paths,
            tools=self.data.tools,
            rows=rows,
            changed=sum(row.differs for row in rows),
            badges_for=lambda key, words: Markup(
                '<span class="badge status-{}"><span class="icon" aria-hidden="true">{}</span> {}</span>'
            ).format(key, views.badge(key).icon, words),
        )

    def not_found(self) -> str:
        return self._render("404.html", "", "")

    def feed(self) -> str:
        entries = views.feed_entries(self.views.values())
        site_url = self.data.settings.get("site_url")
        base = site_url if isinstance(site_url, str) and site_url.startswith(("https://", "http://")) else ""
        if base and not base.endswith("/"):
            base += "/"
        # A feed's id must not change: derive it from the plan's path (the site's own path as a fallback).
        identity = self.data.paths.plan_path or self.data.paths.site_dir
        digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        updated = entries[0].time if entries else self.data.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.env.get_template("feed.xml").render(
            entries=entries,
            base=base,
            feed_id=f"{base}feed.xml" if base else f"urn:backupplan:site:{digest}",
            updated=updated,
            entry_id=lambda entry: (
                f"urn:backupplan:run:{job_name(entry.job)}:{run_name(str(entry.run.get('run')))}:{entry.kind}"
            ),
        )
