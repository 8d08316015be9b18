"""Building the site: gather everything, render, then write only the files whose content changed.

Each file is replaced atomically (temp file, rename; site.writer), so a reader, or a web server,
sees a whole old page or a whole new one, never half, and only when its bytes changed. Builds of
one site are serialised by a lock file, so a daemon and a manual `run` never interleave writes.

`changed_jobs` narrows a build to what a finished run affects: those jobs' pages, badges and logs,
and the pages every job appears on (dashboard, jobs list, logs, feed, metrics, status.json).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from backupplan.fsutil import atomic_write, remove_stale_temporaries
from backupplan.secrets import mask_url_credentials
from backupplan.site import reuse, views
from backupplan.site.changes import (
    SAMPLES,
    SHOWN_PATHS,
    ChangedPaths,
    has_list,
    last_counted,
    list_source,
    read_changed_paths,
)
from backupplan.site.data import JsonDict, SiteInput
from backupplan.site.files import ensure_public_dir
from backupplan.site.live import status_files, write_live
from backupplan.site.logs import log_source, publish_job_logs
from backupplan.site.machine import badge_json
from backupplan.site.masking import SiteMasker, refresh_snapshot
from backupplan.site.recent import RECENT
from backupplan.site.render import Renderer, page_count
from backupplan.site.templating import template_dir
from backupplan.site.writer import MANIFEST, BuildReport, SiteWriter

__all__ = ["MANIFEST", "BuildReport", "build_site", "full_build_key", "write_progress"]

LOCK = ".backupplan-site.lock"
ASSETS = ("site.css", "site.js", "icon.svg")


@contextlib.contextmanager
def site_lock(site_dir: Path) -> Iterator[None]:
    """Hold the site's build lock (flock: released by the kernel if the holder dies)."""
    fd = os.open(site_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def build_site(data: SiteInput, site_dir: Path, *, changed_jobs: Iterable[str] | None = None) -> BuildReport:
    """Given the site input, bring `site_dir` up to date and return what was done.

    Without `changed_jobs` everything is rendered, pages of jobs that no longer exist are removed
    and temp files of killed writers are cleaned. With `changed_jobs`, only what those jobs affect
    is rendered. Raise OSError when the site folder cannot be written.
    """
    ensure_public_dir(site_dir)
    report = BuildReport()
    with site_lock(site_dir):
        writer = SiteWriter(site_dir, refresh_snapshot(), report)
        key = full_build_key(data)
        # A narrowed build is widened when the last full one was made from other settings, jobs,
        # tools or templates (a plan applied, a job added, backupplan upgraded) or never happened:
        # `apply` from cron must give the settings page, the assets and every job's page too. So
        # is one whose secrets differ from this process's last build of the site: every page was
        # masked with those. (Not across processes: the manifest is public, and a digest of the
        # secrets in it would let a weak one be guessed.)
        fragments = reuse.FRAGMENTS
        secrets = writer.mask.secrets
        before = fragments.secrets_before(str(site_dir), secrets)
        full = changed_jobs is None or writer.full_key != key or before not in (None, secrets)
        job_views = views.job_views(data.status.get("jobs") or [], data.jobs)
        selected = (
            list(job_views)
            if full
            else [job for job in dict.fromkeys(changed_jobs or []) if job in job_views]
        )

        # Strips drawn by an earlier build may link to logs this one publishes or removes.
        fragments.forget(str(site_dir), None if full else selected)

        # Gather: logs first, so that pages link only to logs that are published.
        state_dir = Path(data.paths.state_dir)
        published: dict[str, set[str]] = {}
        for job_id in selected:
            view = job_views[job_id]
            history = view.input.history if view.input else []
            published[f"logs/{view.name}"] = publish_job_logs(
                job_id, history, state_dir, site_dir, writer.mask, report.logs, recheck=not writer.trusted
            )
        lines = RECENT.read(data.logs_dir, data.log_lines, _log_files(job_views, state_dir))
        lists = _changes_lists(job_views, set(selected), str(state_dir))

        def is_published(relative: str) -> bool:
            folder, name = relative.rsplit("/", 1)
            if folder not in published:
                try:
                    published[folder] = set(os.listdir(site_dir / folder))
                except OSError:
                    published[folder] = set()
            return name in published[folder]

        hrefs: dict[int, str | None] = {}  # by run: a job page and the strips ask for the same runs

        def log_href(run: JsonDict) -> str | None:
            if id(run) in hrefs:  # the runs live as long as `data`: their ids are theirs
                return hrefs[id(run)]
            job, run_id = run.get("job"), run.get("run")
            if not isinstance(job, str) or not isinstance(run_id, str) or not run.get("log"):
                href = None
            else:
                relative = views.log_path(job, run_id)
                href = relative if is_published(relative) else None
            hrefs[id(run)] = href
            return href

        def changes_href(run: JsonDict) -> str | None:
            job, run_id = run.get("job"), run.get("run")
            if not isinstance(job, str) or not isinstance(run_id, str) or not has_list(run):
                return None
            relative = views.changes_path(job, run_id)
            return relative if is_published(relative) else None

        renderer = Renderer(data, job_views, log_href, changes_href, lists, site=str(site_dir))

        # Render and write.
        status_bytes, live_bytes = status_files(data.status, writer.mask)
        writer.put_bytes("status.json", status_bytes)
        report.status = status_bytes
        for view in (job_views[job_id] for job_id in selected):
            writer.put(f"jobs/{view.name}/index.html", renderer.job_page(view), rendered=True)
            writer.put_bytes(f"badges/{view.name}.json", badge_json(view))
        writer.put("index.html", renderer.dashboard(), rendered=True)
        for relative, text in renderer.jobs_pages().items():
            writer.put(relative, text, rendered=True)
        writer.put("logs.html", renderer.logs_page(lines), rendered=True)
        writer.put("feed.xml", renderer.feed(), rendered=True)
        if writer.mask.hides:
            writer.put("metrics.prom", renderer.metrics())
        else:
            # Without secrets, masking is hiding credentials and tokens in URLs, which never span a
            # line: each job's samples are masked as they are drawn, and kept masked (1 MB of
            # metrics for 1,000 jobs costs ~4 ms to search whole).
            writer.put("metrics.prom", renderer.metrics(mask_url_credentials), rendered=True)
        if full:
            writer.put("settings.html", renderer.settings_page(), rendered=True)
            writer.put("404.html", renderer.not_found(), rendered=True)
            assets = template_dir() / "assets"
            for name in ASSETS:
                writer.put_bytes(f"assets/{name}", (assets / name).read_bytes())
        _remove_extra_job_pages(site_dir, len(job_views), writer, report)
        if full:
            if writer.full_key != key:
                writer.full_key, writer.dirty = key, True
            _remove_gone_jobs(site_dir, {view.name for view in job_views.values()}, writer, report)
            report.temporaries_removed = _clean_temporaries(site_dir)
        writer.save()
        write_live(site_dir, live_bytes)  # last: a page that sees a new version finds it everywhere
    return report


def full_build_key(data: SiteInput) -> str:
    """A digest of what only a full build renders: settings, paths, tools, every job's
    configuration, and the templates and assets of this backupplan."""
    parts = {
        "templates": _template_digest(),
        "settings": data.settings,
        "defaults": data.default_settings,
        "paths": repr(data.paths),
        "tools": repr(data.tools),
        "refresh": data.refresh,
        "log_lines": data.log_lines,
        "jobs": {job_id: job.config for job_id, job in sorted(data.jobs.items())},
    }
    try:
        encoded = orjson.dumps(parts, default=repr)  # jobs in id order; each as the plan orders it
    except orjson.JSONEncodeError:  # a lone surrogate in a path or setting: the json module takes it
        encoded = json.dumps(parts, default=repr, sort_keys=True).encode()
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


@functools.lru_cache(maxsize=1)
def _template_digest() -> str:
    from backupplan import __version__

    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    folder = template_dir()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _changes_lists(
    job_views: dict[str, views.JobView], selected: set[str], state_dir: str
) -> dict[str, ChangedPaths | None]:
    """The changes list of each selected job's last counted run, as its page lists it, and of each
    held job's held run, for the samples its banners show. A run that changed nothing has none:
    nothing is read for it (nor for a job whose page is not rendered and which is not held)."""
    lists: dict[str, ChangedPaths | None] = {}
    for job_id, view in job_views.items():
        held = view.status.get("status") == "held"
        if job_id not in selected and not held:
            continue
        run = last_counted(view.input.history if view.input else [])
        if run is None or not has_list(run):
            continue
        lists[job_id] = read_changed_paths(
            list_source(log_source(state_dir, run)),
            shown=SHOWN_PATHS if job_id in selected else 0,
            samples=SAMPLES if held else 0,
        )
    return lists


def _log_files(job_views: dict[str, views.JobView], state_dir: Path) -> dict[str, Iterator[str]]:
    """Each job's log files, newest first, as its history names them (lazily: the merge of recent
    lines reads only the newest one or two of each job)."""
    base = str(state_dir)
    return {
        job_id: _log_sources(base, view.input.history)
        for job_id, view in job_views.items()
        if view.input and view.input.history
    }


def _log_sources(state_dir: str, history: list[JsonDict]) -> Iterator[str]:
    for run in history:
        source = log_source(state_dir, run)
        if source is not None:
            yield source


def _remove_extra_job_pages(site_dir: Path, job_count: int, writer: SiteWriter, report: BuildReport) -> None:
    pages = page_count(job_count)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(site_dir / "jobs"):
            if entry.name.startswith("page-") and entry.name.endswith(".html"):
                number = entry.name[len("page-") : -len(".html")]
                if not number.isdigit() or int(number) > pages:
                    os.unlink(entry.path)
                    writer.forget(f"jobs/{entry.name}")
                    report.removed.append(f"jobs/{entry.name}")


def _remove_gone_jobs(site_dir: Path, names: set[str], writer: SiteWriter, report: BuildReport) -> None:
    """Remove the pages, badges and published logs of jobs that are no longer known."""
    for folder in ("jobs", "logs"):
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(site_dir / folder):
                if entry.is_dir(follow_symlinks=False) and entry.name not in names:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    writer.forget(f"{folder}/{entry.name}")
                    report.removed.append(f"{folder}/{entry.name}")
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(site_dir / "badges"):
            if entry.name.endswith(".json") and entry.name[: -len(".json")] not in names:
                os.unlink(entry.path)
                writer.forget(f"badges/{entry.name}")
                report.removed.append(f"badges/{entry.name}")


def _clean_temporaries(site_dir: Path) -> int:
    """Delete temp files that killed writers left in any folder of the site."""
    removed = 0
    folders = [site_dir, site_dir / "assets", site_dir / "badges"]
    for parent in (site_dir / "jobs", site_dir / "logs"):
        with contextlib.suppress(FileNotFoundError):
            folders.append(parent)
            folders.extend(
                Path(entry.path) for entry in os.scandir(parent) if entry.is_dir(follow_symlinks=False)
            )
    for folder in folders:
        removed += remove_stale_temporaries(folder)
    return removed


def write_progress(status: JsonDict, site_dir: Path, *, masked: bool = False) -> bytes:
    """Given a fresh status document, replace only site/status.json (atomically; not fsynced: a
    progress tick is superseded within a second, and every event rewrites it durably) and
    live.json; return status.json's bytes. `masked`: every value was masked already (read back
    from status.json)."""
    status_bytes, live_bytes = status_files(status, None if masked else SiteMasker())
    ensure_public_dir(site_dir)
    atomic_write(site_dir / "status.json", status_bytes, mode=0o644, durable=False)
    write_live(site_dir, live_bytes)
    return status_bytes
