"""A narrowed build (`changed_jobs`) writes exactly what a full build from scratch writes.

The narrowed build keeps fragments of pages (site.reuse) and lines of logs (site.logs.KeptLines)
from the builds before it; every check here compares each file it leaves with what a full build of
the same input writes into an empty folder, with nothing kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from site_helpers import load_fixture

from backupplan.secrets import registry
from backupplan.site import JobInput, SiteInput, build_site, reuse, writer
from backupplan.site import build as build_module
from backupplan.site.data import JsonDict
from backupplan.site.recent import KeptLines
from backupplan.site.reuse import FragmentCache

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
STATUSES = ("succeeded", "succeeded", "succeeded", "warning", "failed", "interrupted")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def nothing_kept() -> Iterator[None]:
    """Build as a new process would: no fragment and no log line kept (the narrowed site's are
    put back afterwards)."""
    saved = reuse.FRAGMENTS, build_module.RECENT, dict(writer._MANIFESTS)
    reuse.FRAGMENTS, build_module.RECENT = FragmentCache(), KeptLines()
    writer._MANIFESTS.clear()
    try:
        yield
    finally:
        reuse.FRAGMENTS, build_module.RECENT = saved[:2]
        writer._MANIFESTS.clear()
        writer._MANIFESTS.update(saved[2])


def files_of(site: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(site)): path.read_bytes() for path in sorted(site.rglob("*")) if path.is_file()
    }


def assert_as_full_build(data: SiteInput, site: Path, reference: Path) -> None:
    """Every file under `site` is what a full build of `data` writes into the empty `reference`."""
    with nothing_kept():
        build_site(data, reference)
    narrowed, full = files_of(site), files_of(reference)
    assert sorted(narrowed) == sorted(full)
    differing = [path for path in full if narrowed[path] != full[path]]
    for path in differing[:3]:
        print(path, "\n", _first_difference(narrowed[path], full[path]))
    assert differing == []


def _first_difference(one: bytes, other: bytes) -> str:
    at = next(
        (index for index, (a, b) in enumerate(zip(one, other, strict=False)) if a != b),
        min(len(one), len(other)),
    )
    return f"at {at}: {one[at - 80 : at + 80]!r}\n  != {other[at - 80 : at + 80]!r}"


def write_log(state: Path, run: JsonDict, lines: list[str]) -> None:
    log = state / str(run["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"{run['started_at']} [rsync] {line}\n" for line in lines))
    finished = datetime.fromisoformat(str(run["finished_at"]).replace("Z", "+00:00")).timestamp()
    os.utime(log, (finished, finished))


def make_run(job: str, started: datetime, status: str, number: int, logged: bool) -> JsonDict:
    run_id = f"{started.strftime('%Y%m%dT%H%M%SZ')}-{number:04x}"
    return {
        "run": run_id,
        "job": job,
        "status": status,
        "reason": None if status == "succeeded" else f"exit 23: run {number}",
        "trigger": "schedule",
        "started_at": stamp(started),
        "finished_at": stamp(started + timedelta(seconds=30 + number % 90)),
        "duration": float(30 + number % 90),
        "exit_code": 0 if status == "succeeded" else 23,
        "bytes": number * 1024,
        "files": number,
        "attempts": 1,
        "changes": {"added": number % 3, "changed": 0, "deleted": number % 2},
        "log": f"logs/{job}/{run_id}.log" if logged else None,
    }


def job_status(job: str, history: list[JsonDict]) -> JsonDict:
    return {
        "id": job,
        "description": f"Job {job}",
        "engine": "rsync",
        "enabled": True,
        "status": history[0]["status"],
        "overdue": False,
        "paused": False,
        "schedule": "0 */6 * * *",
        "next_run": stamp(NOW + timedelta(hours=3)),
        "deadline": stamp(NOW + timedelta(hours=9)),
        "last_run": history[0],
        "runs": len(history),
        "failures": sum(run["status"] == "failed" for run in history),
        "progress": None,
    }


def many_jobs(tmp_path: Path, count: int = 150, runs: int = 35) -> SiteInput:
    """`count` jobs of `runs` runs each, the newest three of each with a log on disk: two pages
    of the jobs list, a feed of many failures, logs.html from many jobs."""
    base = load_fixture(tmp_path)
    state = Path(base.paths.state_dir)
    jobs: dict[str, JobInput] = {}
    statuses = []
    for index in range(count):
        job = f"job-{index:03d}"
        history = []
        for number in range(runs):
            started = NOW - timedelta(hours=6 * (number + 1), minutes=(index * 7) % 59)
            status = STATUSES[(index + number) % len(STATUSES)]
            history.append(make_run(job, started, status, index * 100 + number, logged=number < 3))
        for run in history[:3]:
            write_log(state, run, [f"{run['run']} line {line}" for line in range(4)])
        jobs[job] = JobInput(job, {"source": f"/srv/{job}/"}, [stamp(NOW + timedelta(hours=3))], history)
        statuses.append(job_status(job, history))
    status = dict(base.status, jobs=statuses, recent_runs=[job.history[0] for job in jobs.values()][:10])
    return replace(base, status=status, jobs=jobs)


def finish_run(data: SiteInput, job: str, minutes: int, status: str = "succeeded") -> SiteInput:
    """`job` ran once more, `minutes` after NOW, with a log of its own: a new input."""
    state = Path(data.paths.state_dir)
    history = data.jobs[job].history
    run = make_run(job, NOW + timedelta(minutes=minutes), status, 9000 + minutes, logged=True)
    write_log(state, run, [f"new run of {job}", "done"])
    jobs = dict(data.jobs, **{job: replace(data.jobs[job], history=[run, *history])})
    statuses = [
        dict(entry, last_run=run, status=status, runs=entry["runs"] + 1) if entry["id"] == job else entry
        for entry in data.status["jobs"]
    ]
    document = dict(data.status, jobs=statuses, recent_runs=[run, *data.status["recent_runs"][:9]])
    return replace(data, status=document, jobs=jobs)


def with_status(data: SiteInput, job: str, **fields: object) -> SiteInput:
    """`job`'s status changed (and nothing else): as when it falls overdue or is paused."""
    statuses = [dict(entry, **fields) if entry["id"] == job else entry for entry in data.status["jobs"]]
    return replace(data, status=dict(data.status, jobs=statuses))


@pytest.fixture
def many(tmp_path: Path) -> SiteInput:
    return many_jobs(tmp_path)


def test_a_narrowed_build_after_a_run_writes_what_a_full_build_writes(
    many: SiteInput, tmp_path: Path
) -> None:
    site = Path(many.paths.site_dir)
    build_site(many, site)
    last = (site / "jobs/page-2.html").read_text().rsplit('<tr data-job="', 1)[1].split('"', 1)[0]
    data = finish_run(many, last, 5, "failed")  # from the end of the list to its front, and the feed
    report = build_site(data, site, changed_jobs=[last])
    assert {"jobs/index.html", "jobs/page-2.html", "feed.xml", "metrics.prom"} <= set(report.written)
    assert (site / "jobs/index.html").read_text().split('<tr data-job="', 1)[1].startswith(f'{last}"')
    assert_as_full_build(data, site, tmp_path / "full-1")


def test_each_of_many_narrowed_builds_writes_what_a_full_build_writes(
    many: SiteInput, tmp_path: Path
) -> None:
    site = Path(many.paths.site_dir)
    build_site(many, site)
    data = many
    steps = [
        (lambda data: finish_run(data, "job-007", 1, "failed"), ["job-007"]),
        (lambda data: finish_run(data, "job-007", 2), ["job-007"]),  # a recovery: in the feed
        (
            lambda data: with_status(finish_run(data, "job-033", 3), "job-140", overdue=True),
            ["job-033", "job-140"],
        ),
        (lambda data: with_status(data, "job-001", paused=True, status="paused"), ["job-001"]),
        (lambda data: finish_run(data, "job-149", 4, "interrupted"), ["job-149", "job-000"]),
    ]
    for number, (change, changed_jobs) in enumerate(steps):
        data = change(data)
        build_site(data, site, changed_jobs=changed_jobs)
        assert_as_full_build(data, site, tmp_path / f"full-{number}")


SHARED = (
    "index.html",
    "jobs/index.html",
    "jobs/page-2.html",
    "logs.html",
    "feed.xml",
    "metrics.prom",
    "status.json",
)


def test_a_status_that_changed_unnamed_is_drawn_anew_on_the_pages_every_job_is_on(
    many: SiteInput, tmp_path: Path
) -> None:
    """A job's own page and badge are rendered when it is named in `changed_jobs`; the pages
    every job appears on show every job as its status now is, named or not."""
    site = Path(many.paths.site_dir)
    build_site(many, site)
    data = with_status(finish_run(many, "job-033", 3), "job-140", overdue=True, deadline=stamp(NOW))
    data = with_status(data, "job-001", paused=True, status="paused")
    build_site(data, site, changed_jobs=["job-033"])
    with nothing_kept():
        build_site(data, tmp_path / "full")
    for relative in SHARED:
        assert (site / relative).read_bytes() == (tmp_path / "full" / relative).read_bytes(), relative
    assert re.search(
        r'data-job-badges="job-140" data-shown="\w+ overdue"', (site / "jobs/index.html").read_text()
    )


def test_fragments_masked_with_other_secrets_are_drawn_again(many: SiteInput, tmp_path: Path) -> None:
    site = Path(many.paths.site_dir)
    build_site(many, site)
    registry.add("job-050", "SECRET_NAME")  # a job id, in its row, its data island entry, its metrics
    data = finish_run(many, "job-010", 6)
    build_site(data, site, changed_jobs=["job-010"])
    assert b"job-050" not in (site / "jobs/index.html").read_bytes() + (site / "metrics.prom").read_bytes()
    assert_as_full_build(data, site, tmp_path / "full")


def test_the_fixture_after_its_running_run_ends(tmp_path: Path) -> None:
    """The fixture's running `documents` run ends (its log grows): held, paused, never-run jobs."""
    data = load_fixture(tmp_path)
    site = Path(data.paths.site_dir)
    build_site(data, site)
    log = Path(data.paths.state_dir) / "logs/documents/20261128T120000Z-d01c.log"
    with log.open("a") as handle:
        handle.write("2026-11-28T12:01:00Z [backupplan] run finished: succeeded\n")
    os.utime(log, (1_800_000_000, 1_800_000_000))
    status = json.loads(json.dumps(data.status))
    job = next(job for job in status["jobs"] if job["id"] == "documents")
    run = dict(job["last_run"], status="succeeded", finished_at="2026-11-28T12:01:00Z", duration=60.0)
    job.update(status="succeeded", progress=None, last_run=run, runs=3)
    history = [run, *data.jobs["documents"].history[1:]]
    finished = replace(
        data,
        status=status,
        jobs=dict(data.jobs, documents=replace(data.jobs["documents"], history=history)),
    )
    build_site(finished, site, changed_jobs=["documents"])
    assert_as_full_build(finished, site, tmp_path / "full")


def test_lines_of_a_log_that_grew_are_read_again_whoever_ran(many: SiteInput, tmp_path: Path) -> None:
    """logs.html reads every job's newest log: one still being written (a running run, not named in
    `changed_jobs`) is read again, the others are not."""
    site = Path(many.paths.site_dir)
    build_site(many, site)
    newest = many.jobs["job-020"].history[0]
    log = Path(many.paths.state_dir) / str(newest["log"])
    with log.open("a") as handle:
        handle.write("2026-11-28T11:59:59Z [rsync] a line written since the last build\n")
    data = finish_run(many, "job-021", 7)
    build_site(data, site, changed_jobs=["job-021"])
    page = (site / "logs.html").read_text()
    assert "a line written since the last build" in page
    with nothing_kept():
        build_site(data, tmp_path / "full")
    assert page == (tmp_path / "full/logs.html").read_text()
