"""build_site: every page type rendered from a fixed input, valid, linked, written only on change."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import html5lib
import pytest
from site_helpers import all_files, html_pages, mode_of, parse_references

from backupplan.site import JobInput, SiteInput, build_site, write_progress
from backupplan.site.build import MANIFEST
from backupplan.site.text import with_breaks

JOBS = ("db-dump", "documents", "home-mirror", "mail", "music", "old-laptop", "photos")
PAGES = [
    ("index.html", "html"),
    ("jobs/index.html", "html"),
    ("jobs/photos/index.html", "html"),
    ("jobs/documents/index.html", "html"),
    ("jobs/music/index.html", "html"),
    ("jobs/home-mirror/index.html", "html"),
    ("logs.html", "html"),
    ("settings.html", "html"),
    ("404.html", "html"),
    ("feed.xml", "xml"),
    ("metrics.prom", "prom"),
    ("status.json", "json"),
    ("live.json", "json"),
    ("badges/db-dump.json", "json"),
    ("badges/home-mirror.json", "json"),
]


@pytest.mark.parametrize(("relative", "suffix"), PAGES, ids=[page.replace("/", "-") for page, _ in PAGES])
def test_page_matches_snapshot(built_site: Path, snapshot_file, relative: str, suffix: str) -> None:  # type: ignore[no-untyped-def]
    text = (built_site / relative).read_text(encoding="utf-8")
    for temporary in (with_breaks(str(built_site.parent)), str(built_site.parent)):  # paths may wrap
        text = text.replace(temporary, "/TMP")
    assert text == snapshot_file(suffix)


def test_build_writes_every_file_of_the_site(built_site: Path) -> None:
    names = {str(path.relative_to(built_site)) for path in all_files(built_site)}
    assert names == {
        ".backupplan-site.json",
        ".backupplan-site.lock",
        "404.html",
        "assets/icon.svg",
        "assets/site.css",
        "assets/site.js",
        "feed.xml",
        "index.html",
        "logs.html",
        "metrics.prom",
        "settings.html",
        "status.json",
        "live.json",
        *(f"badges/{job}.json" for job in JOBS),
        "jobs/index.html",
        *(f"jobs/{job}/index.html" for job in JOBS),
        "logs/db-dump/20261126T033000Z-affd.txt",
        "logs/db-dump/20261127T033000Z-b00d.txt",
        "logs/db-dump/20261128T033000Z-b01d.txt",
        "logs/documents/20261128T000000Z-cffc.txt",
        "logs/documents/20261128T060000Z-d00c.txt",
        "logs/documents/20261128T120000Z-d01c.txt",
        "logs/home-mirror/20261126T010000Z-g99e.txt",
        "logs/home-mirror/20261127T010000Z-h00e.txt",
        "logs/home-mirror/20261127T010000Z-h00e.changes.txt",
        "logs/home-mirror/20261128T010000Z-h01e.txt",
        "logs/home-mirror/20261128T010000Z-h01e.changes.txt",
        "logs/mail/20261128T100000Z-m10a.txt",
        "logs/mail/20261128T110000Z-m11a.txt",
        *(f"logs/photos/202611{day}T020000Z-a{day}f.txt" for day in range(21, 29)),
        # each run's changes list next to its log: a run that changed nothing (a26f) has none
        "logs/photos/20261127T020000Z-a27f.changes.txt",
        "logs/photos/20261128T020000Z-a28f.changes.txt",
    }


def test_every_page_is_valid_html(built_site: Path) -> None:
    parser = html5lib.HTMLParser(strict=True)
    for page in html_pages(built_site):
        parser.parse(page.read_bytes())  # raises ParseError on the first spec violation


def test_feed_is_atom_and_lists_failures_and_recoveries(built_site: Path) -> None:
    atom = "{http://www.w3.org/2005/Atom}"
    feed = ElementTree.parse(built_site / "feed.xml").getroot()
    assert feed.tag == f"{atom}feed"
    titles = [entry.findtext(f"{atom}title") for entry in feed.iter(f"{atom}entry")]
    assert titles == [
        "mail interrupted",
        "db-dump timed out",
        "home-mirror held",
        "db-dump failed",
        "photos recovered",
        "photos failed",
    ]


def test_every_link_and_asset_exists(built_site: Path) -> None:
    for page in html_pages(built_site):
        for link in parse_references(page.read_text(encoding="utf-8")).links:
            if link.startswith("#"):
                continue
            assert "://" not in link and not link.startswith(("/", "javascript:", "data:")), (page, link)
            target = (page.parent / link.split("#", 1)[0]).resolve()
            assert target.is_file(), f"{page.relative_to(built_site)} links to missing {link}"
            assert target.is_relative_to(built_site.resolve())


def test_csp_is_the_first_element_in_head_and_there_is_no_inline_script(built_site: Path) -> None:
    for page in html_pages(built_site):
        references = parse_references(page.read_text(encoding="utf-8"))
        tags = [tag for tag, _ in references.tags]
        first = references.tags[tags.index("head") + 1]
        assert first[0] == "meta"
        attributes = dict(first[1])
        assert attributes["http-equiv"] == "Content-Security-Policy"
        assert attributes["content"] == (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'"
        )
        scripts = [dict(attributes) for tag, attributes in references.tags if tag == "script"]
        # site.js, and the page's data island: JSON, which no browser executes (CSP has no say)
        assert scripts == [
            {"src": scripts[0]["src"], "defer": None},
            {"type": "application/json", "id": "status-data"},
        ]
        assert scripts[0]["src"].endswith("assets/site.js")
        assert all(
            not name.startswith("on") and name != "style" for _, attrs in references.tags for name, _ in attrs
        )


def test_site_files_are_world_readable_whatever_the_umask(site_input: SiteInput, tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        build_site(site_input, tmp_path / "site")
    finally:
        os.umask(previous)
    for path in all_files(tmp_path / "site"):
        if path.name != ".backupplan-site.lock":
            assert mode_of(path) == 0o644, path
    folders = [tmp_path / "site", *(path for path in (tmp_path / "site").rglob("*") if path.is_dir())]
    assert len(folders) > 10
    assert {mode_of(folder) for folder in folders} == {0o755}


def test_a_second_build_writes_only_status_json(site_input: SiteInput, built_site: Path) -> None:
    report = build_site(site_input, built_site)
    assert report.written == ["status.json"]
    assert (report.logs.copied, report.logs.lists_copied) == (0, 0)
    assert (report.logs.current, report.logs.lists_current) == (19, 4)


def test_a_page_deleted_by_hand_is_written_again(site_input: SiteInput, built_site: Path) -> None:
    (built_site / "jobs/photos/index.html").unlink()
    (built_site / "logs.html").write_text("truncated")
    report = build_site(site_input, built_site)
    assert report.written == ["status.json", "jobs/photos/index.html", "logs.html"]


def _finish_documents_run(data: SiteInput) -> SiteInput:
    """The fixture's running `documents` run ends successfully."""
    status = json.loads(json.dumps(data.status))
    job = next(job for job in status["jobs"] if job["id"] == "documents")
    run = dict(
        job["last_run"], status="succeeded", finished_at="2026-11-28T12:01:00Z", duration=60.0, exit_code=0
    )
    job.update(status="succeeded", progress=None, last_run=run, runs=3)
    status["summary"].update(running=0, succeeded=2)
    status["recent_runs"][0] = run
    history = [run, *data.jobs["documents"].history[1:]]
    jobs = dict(data.jobs, documents=replace(data.jobs["documents"], history=history))
    return replace(data, status=status, jobs=jobs)


def _torn_by_a_power_cut(site: Path, relative: str) -> None:
    """What a power cut can leave of a file that was never flushed: its size and time, not its bytes."""
    path = site / relative
    found = path.stat()
    path.write_bytes(b"\0" * found.st_size)
    os.utime(path, ns=(found.st_atime_ns, found.st_mtime_ns))


@pytest.mark.parametrize("restarted", [False, True], ids=["same boot", "after a restart"])
def test_the_first_build_after_a_restart_writes_every_file_again(
    site_input: SiteInput, built_site: Path, restarted: bool
) -> None:
    """Nothing the site holds is flushed to disk; a build in a later boot trusts none of it."""
    torn = [
        "jobs/music/index.html",
        "logs/documents/20261128T060000Z-d00c.txt",
        "logs/photos/20261128T020000Z-a28f.changes.txt",
    ]
    for relative in torn:
        _torn_by_a_power_cut(built_site, relative)
    if restarted:
        manifest = json.loads((built_site / MANIFEST).read_text())
        manifest["boot"] = "an-earlier-boot"
        (built_site / MANIFEST).write_text(json.dumps(manifest))
    report = build_site(site_input, built_site, changed_jobs=["documents"])
    assert [b"\0" not in (built_site / relative).read_bytes() for relative in torn] == [restarted] * 3
    assert ("settings.html" in report.written) is restarted
    assert report.logs.copied == (19 if restarted else 0)
    again = build_site(site_input, built_site, changed_jobs=["documents"])
    assert again.written == ["status.json"] and again.logs.copied == 0


def test_a_run_finishing_rebuilds_only_what_it_affects(site_input: SiteInput, built_site: Path) -> None:
    log = Path(site_input.paths.state_dir) / "logs/documents/20261128T120000Z-d01c.log"
    with log.open("a") as handle:
        handle.write("2026-11-28T12:01:00Z [backupplan] run finished: succeeded\n")
    os.utime(log, (1_800_000_000, 1_800_000_000))
    report = build_site(_finish_documents_run(site_input), built_site, changed_jobs=["documents"])
    assert report.written == [
        "status.json",
        "jobs/documents/index.html",
        "badges/documents.json",
        "index.html",
        "jobs/index.html",
        "logs.html",
        "metrics.prom",
    ]
    assert report.logs.copied == 1
    assert "run finished: succeeded" in (built_site / "logs/documents/20261128T120000Z-d01c.txt").read_text()
    assert "run finished: succeeded" in (built_site / "logs.html").read_text()


def test_a_narrow_build_of_a_new_site_builds_all_of_it(site_input: SiteInput, tmp_path: Path) -> None:
    """`apply` from cron only ever asks for narrow builds: the first must still give every page."""
    site = tmp_path / "fresh-site"
    build_site(site_input, site, changed_jobs=["documents"])
    names = {str(path.relative_to(site)) for path in all_files(site)}
    assert {
        "settings.html",
        "404.html",
        "assets/site.js",
        "assets/site.css",
        "jobs/music/index.html",
    } <= names
    again = build_site(_finish_documents_run(site_input), site, changed_jobs=["documents"])
    assert "settings.html" not in again.written and "jobs/music/index.html" not in again.written


def test_a_narrow_build_after_a_plan_change_builds_all_of_it(site_input: SiteInput, built_site: Path) -> None:
    music = site_input.jobs["music"]
    changed = replace(
        site_input,
        settings=dict(site_input.settings, max_parallel=7),
        jobs=dict(
            site_input.jobs, music=replace(music, config=dict(music.config or {}, description="Records"))
        ),
    )
    report = build_site(changed, built_site, changed_jobs=["documents"])
    assert {"settings.html", "jobs/music/index.html"} <= set(report.written)
    assert "Records" in (built_site / "jobs/music/index.html").read_text()
    assert build_site(changed, built_site, changed_jobs=["documents"]).written == ["status.json"]


def test_removed_jobs_lose_their_pages_badges_and_logs(site_input: SiteInput, built_site: Path) -> None:
    status = dict(site_input.status, jobs=[job for job in site_input.status["jobs"] if job["id"] != "photos"])
    jobs = {job_id: job for job_id, job in site_input.jobs.items() if job_id != "photos"}
    report = build_site(replace(site_input, status=status, jobs=jobs), built_site)
    assert sorted(report.removed) == ["badges/photos.json", "jobs/photos", "logs/photos"]
    assert not (built_site / "jobs/photos").exists()
    assert "photos" not in json.loads((built_site / MANIFEST).read_text())["files"].get(
        "jobs/photos/index.html", ""
    )


def test_logs_of_runs_dropped_from_history_are_removed(site_input: SiteInput, built_site: Path) -> None:
    photos = site_input.jobs["photos"]
    jobs = dict(site_input.jobs, photos=replace(photos, history=photos.history[:3]))
    report = build_site(replace(site_input, jobs=jobs), built_site)
    assert report.logs.removed == 5
    assert sorted(path.name for path in (built_site / "logs/photos").iterdir()) == [
        "20261126T020000Z-a26f.txt",
        "20261127T020000Z-a27f.changes.txt",
        "20261127T020000Z-a27f.txt",
        "20261128T020000Z-a28f.changes.txt",
        "20261128T020000Z-a28f.txt",
    ]


def test_a_log_path_outside_the_logs_folder_is_never_published(site_input: SiteInput, tmp_path: Path) -> None:
    secret = tmp_path / "state" / "journal.jsonl"
    secret.write_text("private\n")
    run = dict(
        site_input.jobs["music"].history or {}, run="20261128T000000Z-evil", job="music", log="journal.jsonl"
    )
    jobs = dict(site_input.jobs, music=JobInput("music", site_input.jobs["music"].config, [], [run]))
    build_site(replace(site_input, jobs=jobs), tmp_path / "site")
    assert not (tmp_path / "site/logs/music").exists()


def test_temp_files_of_killed_writers_are_cleaned(site_input: SiteInput, built_site: Path) -> None:
    dead = 4_000_000  # above pid_max: no such process
    orphans = [built_site / f".index.html.{dead}.tmp", built_site / f"jobs/photos/.index.html.{dead}.tmp"]
    for orphan in orphans:
        orphan.write_text("<html")
    report = build_site(site_input, built_site)
    assert report.temporaries_removed == 2
    assert not any(orphan.exists() for orphan in orphans)


def _many_jobs(data: SiteInput, count: int) -> SiteInput:
    template = data.status["jobs"][3]  # music: never run
    statuses = [dict(template, id=f"job-{number:04d}") for number in range(count)]
    return replace(data, status=dict(data.status, jobs=statuses), jobs={})


def test_the_jobs_list_is_paginated_beyond_100_jobs(site_input: SiteInput, tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    build_site(_many_jobs(site_input, 250), site_dir)
    assert sorted(path.name for path in (site_dir / "jobs").glob("*.html")) == [
        "index.html",
        "page-2.html",
        "page-3.html",
    ]
    first = (site_dir / "jobs/index.html").read_text()
    assert first.count('<tr data-job="') == 100
    assert 'href="../jobs/page-3.html"' in first
    assert (site_dir / "jobs/page-3.html").read_text().count('<tr data-job="') == 50
    report = build_site(_many_jobs(site_input, 120), site_dir)
    assert "jobs/page-3.html" in report.removed
    assert not (site_dir / "jobs/page-3.html").exists()


def test_jobs_are_listed_most_recently_updated_first(built_site: Path) -> None:
    page = (built_site / "jobs/index.html").read_text()
    order = [
        page.index(f'<tr data-job="{job}">') for job in ("documents", "mail", "db-dump", "photos", "music")
    ]
    assert order == sorted(order)


def test_write_progress_replaces_only_status_json_and_live_json(
    site_input: SiteInput, built_site: Path
) -> None:
    polled = {"status.json", "live.json"}
    before = {path: path.read_bytes() for path in all_files(built_site) if path.name not in polled}
    status = json.loads(json.dumps(site_input.status))
    status["jobs"][1]["progress"]["percent"] = 77.0
    write_progress(status, built_site)
    assert json.loads((built_site / "status.json").read_text())["jobs"][1]["progress"]["percent"] == 77.0
    assert json.loads((built_site / "live.json").read_text())["running"][0]["progress"]["percent"] == 77.0
    assert {path: path.read_bytes() for path in all_files(built_site) if path.name not in polled} == before
    assert mode_of(built_site / "status.json") == 0o644
