"""Rendering: one method per page, from gathered data to text (the jinja2 environment and what
templates may call are in `templating`).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from markupsafe import Markup

from backupplan.site import changes, history, reuse, tables, views
from backupplan.site.changes import ChangedPaths
from backupplan.site.charts import line_chart, points_from_history
from backupplan.site.data import JsonDict, SiteInput
from backupplan.site.logs import LogLine
from backupplan.site.machine import job_samples, metrics_prom
from backupplan.site.masking import mask_value as mask
from backupplan.site.templating import environment, finite_number, shown_value, template_dir
from backupplan.site.text import (
    display,
    format_bytes,
    format_seconds,
    format_time,
    job_name,
    parse_time,
    rfc3339,
    run_name,
)

Fragment = TypeVar("Fragment")
PAGE_SIZE = 100
AT_A_GLANCE = 10  # jobs the dashboard shows with their last runs (the jobs list shows them all)


def page_count(jobs: int) -> int:
    """How many pages the jobs list has (one, even for no jobs)."""
    return max(1, -(-jobs // PAGE_SIZE))


# How long after a job's next run a page that run rewrites may go unwritten before it is stale: the
# same allowance the status document gives OS timers (docs/status-json.md, `freshness`).
PAGE_SLACK = timedelta(minutes=10)


def jobs_page_path(number: int) -> str:
    """The site-relative path of page `number` of the jobs list."""
    return "jobs/index.html" if number == 1 else f"jobs/page-{number}.html"


def _island_entry(view: views.JobView) -> JsonDict:
    """A job's entry in a page's data island (see Renderer._status_data)."""
    status = view.status
    state = status.get("status")
    known = isinstance(state, str) and state in views.STATUS_LABELS  # needs no masking
    entry: JsonDict = {"id": display(mask(view.id)), "status": state if known else shown_value(state, 40)}
    deadline = rfc3339(status.get("deadline"))
    if deadline is not None:
        entry["deadline"] = deadline
    if status.get("overdue") is True:
        entry["overdue"] = True
    if status.get("enabled") is False:
        entry["enabled"] = False
    if status.get("paused") is True:
        entry["paused"] = True
    return entry


class Renderer:
    """Renders every page of one build from one SiteInput and the job views gathered from it."""

    def __init__(
        self,
        data: SiteInput,
        job_views: dict[str, views.JobView],
        log_href: Callable[[JsonDict], str | None],
        changes_href: Callable[[JsonDict], str | None] = lambda run: None,
        lists: Mapping[str, ChangedPaths | None] | None = None,
        *,
        site: str = "",
    ) -> None:
        """`log_href` and `changes_href` give a run's published log and changes list (None when
        not published); `lists` the changes lists read for jobs (changes.read_changed_paths);
        `site` the folder built (whose fragments reuse.FRAGMENTS keeps)."""
        self.site = site or data.paths.site_dir
        self.data = data
        self.views = job_views
        self.log_href = log_href
        self.changes_href = changes_href
        self.lists = lists or {}
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
            "host": shown_value(data.status.get("host")),
            "freshness": None
            if freshness is None
            else {
                "kept_by": shown_value(freshness.get("kept_by"), 40),
                "heartbeat": finite_number(freshness.get("heartbeat")),
                "expected_by": rfc3339(freshness.get("expected_by")),
            },
        }
        self._rewritten_at_any_run = self._page_expected_by(job_views.values())
        self._view_keys: dict[str, bytes | None] = {}
        self._history_keys: dict[str, tuple[object, ...]] = {}

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
        entries = [self._island_entry(view) for view in jobs]
        return {**self._about, "page_expected_by": page_expected_by, "jobs": entries}

    def _island_entry(self, view: views.JobView) -> JsonDict:
        return self.kept(view, "island", self.view_key(view), lambda: _island_entry(view))

    def view_key(self, view: views.JobView) -> bytes | None:
        """The job's reuse.view_key (made once per build: its row and its data island ask for it)."""
        if view.id not in self._view_keys:
            self._view_keys[view.id] = reuse.view_key(view)
        return self._view_keys[view.id]

    def history_key(self, view: views.JobView) -> tuple[object, ...]:
        """The job's history.history_key (made once per build, as view_key)."""
        if view.id not in self._history_keys:
            self._history_keys[view.id] = history.history_key(view.input.history if view.input else [])
        return self._history_keys[view.id]

    def kept(
        self, view: views.JobView, kind: str, key: Hashable | None, draw: Callable[[], Fragment]
    ) -> Fragment:
        """The job's fragment of `kind` kept from an earlier build for `key`, else drawn now."""
        return reuse.FRAGMENTS.get(self.site, view.id, kind, key, draw)

    @functools.cached_property
    def ordered(self) -> list[views.JobView]:
        """The jobs, most recently active first (the jobs list's order)."""
        return views.sorted_for_list(self.views.values())

    def strip(self, view: views.JobView, root: str) -> str:
        """A job's last runs as marks, each linking to its run's log, else to the job's page (kept
        from an earlier build of this process while the job's runs are the same)."""
        runs = view.input.history if view.input else []
        return self.kept(
            view,
            f"strip {root}",
            self.history_key(view),
            lambda: history.run_strip(view.id, runs, root, lambda run: self.log_href(run) or view.href),
        )

    def _held(self, jobs: Iterable[views.JobView]) -> list[changes.HeldJob]:
        return changes.held_jobs(jobs, self.lists)

    def dashboard(self) -> str:
        status = self.data.status
        summary = dict(status.get("summary") or {})
        every = list(self.views.values())
        overdue = [view for view in every if view.status.get("overdue") is True]
        held = self._held(every)
        glance = views.at_a_glance(self.ordered, AT_A_GLANCE)
        plan = status.get("plan") or {}
        journal = status.get("journal") or {}
        return self._render(
            "index.html",
            "",
            "dashboard",
            status_data=dict(
                self._status_data(glance, page_expected_by=self._rewritten_at_any_run),
                overdue=views.overdue_outlook(every),
            ),
            summary={
                key: summary.get(key)
                for key in ("running", "jobs", "bytes_total", "failures_24h", "overdue", "held")
            },
            active=[view for view in every if view.status.get("status") == "running"],
            overdue=overdue[:20],
            overdue_count=len(overdue),
            held=held[:20],
            held_count=len(held),
            glance=[(view, Markup(self.strip(view, ""))) for view in glance],  # noqa: S704 - escaped
            job_count=len(every),
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

    def jobs_pages(self) -> dict[str, reuse.Assembled]:
        """Every page of the jobs list, by site-relative path."""
        ordered = self.ordered
        pages = page_count(len(ordered))
        rendered = {}
        for number in range(1, pages + 1):
            shown = ordered[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
            text = self._render(
                "jobs.html",
                "../",
                "jobs",
                status_data=self._status_data(shown, page_expected_by=self._rewritten_at_any_run),
                rows=reuse.ROWS,
                total=len(ordered),
                pages=pages,
                page_number=number,
                page_href=jobs_page_path,
            )
            rendered[jobs_page_path(number)] = reuse.Assembled(text, [self._job_row(view) for view in shown])
        return rendered

    def _job_row(self, view: views.JobView) -> reuse.Row:
        """A job's row of the jobs list, with its strip (both depend on its status and its runs)."""
        key = self.view_key(view)
        return self.kept(
            view,
            "row",
            None if key is None else (key, self.history_key(view)),
            lambda: reuse.Row.of(tables.job_row(view, "../", self.strip(view, "../"))),
        )

    def _changes_section(self, view: views.JobView, runs: list[JsonDict]) -> JsonDict | None:
        """What the job page shows of its last counted run's changes (None: no run counted)."""
        run = changes.last_counted(runs)
        if run is None:
            return None
        counts = tables.change_counts(run) or (0, 0, 0)
        found = self.lists.get(view.id) if any(counts) else None
        return {
            "run": run,
            "words": tables.change_words(counts),
            "total": sum(counts),
            "href": self.changes_href(run) if any(counts) else None,
            "shown": len(found.lines) if found else 0,
            "more": found.more if found else False,
            "paths": changes.paths_html(found.lines) if found else "",
            "problem": found.problem if found else None,
            "kept": found is not None,
        }

    def job_page(self, view: views.JobView) -> str:
        runs = view.input.history if view.input else []
        good, ended = views.success_rate(runs)
        config = view.input.config if view.input else None
        return self._render(
            "job.html",
            "../../",
            "jobs",
            status_data=self._status_data([view], page_expected_by=self._page_expected_by([view])),
            job=view,
            held=self._held([view]),
            history=runs,
            history_rows=tables.history_rows(runs, self.log_href, "../../", self.changes_href),
            calendar=history.calendar(runs, view.status, self.data.now),
            changed=self._changes_section(view, runs),
            good=good,
            ended=ended,
            next_runs=(view.input.next_runs if view.input else [])[:5],
            missed=[slot for slot in view.status.get("missed") or [] if isinstance(slot, dict)][:20],
            config=[(key, views.value_text(value)) for key, value in views.flatten(config)] if config else [],
            duration_chart=line_chart(
                "duration",
                f"Duration of the last runs of {display(mask(view.id), 80)}",
                points_from_history(runs, "duration"),
                format_seconds,
            ),
            bytes_chart=line_chart(
                "bytes",
                f"Data transferred by the last runs of {display(mask(view.id), 80)}",
                points_from_history(runs, "bytes"),
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
            log_rows=Markup("\n".join(reuse.FRAGMENTS.each(self.site, "log line", lines, tables.log_row))),  # noqa: S704 - escaped
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

    def metrics(self, line_mask: Callable[[str], str] | None = None) -> str:
        """metrics.prom, each job's samples kept between builds while its status is the same; with
        `line_mask`, every line masked with it (each job's as its samples are drawn)."""

        def samples(view: views.JobView) -> tuple[str, ...]:
            drawn = job_samples(view)
            return drawn if line_mask is None else tuple(line_mask(lines) for lines in drawn)

        kind = "metrics" if line_mask is None else "metrics masked"
        return metrics_prom(
            self.data.status,
            self.views.values(),
            lambda view: self.kept(view, kind, self.view_key(view), lambda: samples(view)),
            line_mask,
        )

    def feed(self) -> str:
        entries = views.feed_entries(
            self.views.values(),
            lambda view: self.kept(view, "feed", self.history_key(view), lambda: views.job_feed(view)),
        )
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
