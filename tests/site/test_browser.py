"""The site in real headless Chromium: live updates, the logs tools, no console errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from site_helpers import http_server

from backupplan.site import SiteInput, build_site, write_progress

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGES = [
    "index.html",
    "jobs/index.html",
    "jobs/photos/index.html",
    "jobs/documents/index.html",
    "jobs/home-mirror/index.html",
    "logs.html",
    "settings.html",
    "404.html",
]


@pytest.fixture
def live_site(site_input: SiteInput) -> Iterator[tuple[str, Path, SiteInput]]:
    """The fixture site with a 1 s refresh, served by a stock `python -m http.server`, whose
    access log (every request and its status) is `access.log` beside the site folder."""
    data = replace(site_input, refresh=1.0)
    site_dir = Path(data.paths.site_dir)
    build_site(data, site_dir)
    with (site_dir.parent / "access.log").open("wb") as log, http_server(site_dir, log) as url:
        yield url, site_dir, data


def _status(data: SiteInput) -> dict:  # type: ignore[type-arg]
    return json.loads(json.dumps(data.status))


def test_progress_bar_and_cards_follow_status_json(
    page: Page, live_site, artifacts: Path, console_errors: list[str]
) -> None:  # type: ignore[no-untyped-def]
    url, site_dir, data = live_site
    page.goto(f"{url}/index.html")
    bar = page.locator('[data-progress="documents"] progress')
    expect(bar).to_have_attribute("value", "42.5")
    expect(page.locator('[data-progress="documents"] .progress-text')).to_have_text(
        "43% · 70.0 MiB of 164.7 MiB · 5.0 MiB/s · 19s left"
    )

    status = _status(data)
    status["jobs"][1]["progress"].update(percent=77.0, bytes=132_000_000, eta=7.0)
    status["summary"]["running"] = 1
    write_progress(status, site_dir)
    expect(bar).to_have_attribute("value", "77.0", timeout=5000)
    expect(page.locator('[data-progress="documents"] .progress-text')).to_have_text(
        "77% · 125.9 MiB of 164.7 MiB · 5.0 MiB/s · 7s left"
    )
    expect(page.locator("#live")).to_contain_text("Status written")
    expect(page.locator("#live-problem")).to_be_empty()

    status["jobs"][1].update(status="succeeded", progress=None)
    status["jobs"][0].update(
        status="running",
        progress={"run": "r", "percent": 5.0, "bytes": 1024, "total_bytes": None, "rate": None, "eta": None},
    )
    status["summary"].update(running=1, failures_24h=3)
    write_progress(status, site_dir)
    expect(page.locator('[data-progress="db-dump"] progress')).to_have_attribute("value", "5.0", timeout=5000)
    expect(page.locator('#active-runs [data-job="documents"]')).to_have_count(0)
    expect(page.locator('[data-stat="failures_24h"]')).to_have_text("3")
    page.screenshot(path=str(artifacts / "dashboard-live.png"), full_page=True)

    status["jobs"][0].update(status="failed", progress=None)
    status["summary"]["running"] = 0
    write_progress(status, site_dir)
    expect(page.locator("#no-active")).to_be_visible(timeout=5000)
    expect(page.locator('[data-stat="running"]')).to_have_text("0")
    assert console_errors == []


def test_polls_are_answered_304_and_status_json_is_read_only_when_its_version_changes(
    page: Page, live_site, console_errors: list[str]
) -> None:  # type: ignore[no-untyped-def]
    """Polling a stock static server: live.json is asked for conditionally and answered 304 with
    no body while it is unchanged; a progress tick changes live.json only (the bar moves without
    status.json), a run that ends changes the version (status.json is read once, the badge moves)."""
    url, site_dir, data = live_site
    access_log = site_dir.parent / "access.log"

    def answers() -> list[tuple[str, int]]:
        """What the server answered since the last call: (file, HTTP status), from its access log."""
        lines = access_log.read_text().splitlines()
        access_log.write_text("")
        found = (re.search(r'"GET /([^ ?]+)[^"]* HTTP/1.1" (\d+)', line) for line in lines)
        return [(match[1].rsplit("/", 1)[-1], int(match[2])) for match in found if match]

    page.goto(f"{url}/jobs/index.html")
    expect(page.locator("#live")).to_contain_text("Status written")
    page.wait_for_timeout(3500)  # the page polls every second
    quiet = answers()
    polls = [status for name, status in quiet if name == "live.json"]
    assert len(polls) >= 3 and polls[0] == 200 and set(polls[1:]) == {304}, quiet
    assert [name for name, _ in quiet].count("status.json") == 1, quiet  # the first poll only

    status = _status(data)
    status["jobs"][1]["progress"].update(percent=77.0, bytes=132_000_000, eta=7.0)
    write_progress(status, site_dir)
    page.goto(f"{url}/index.html")
    bar = page.locator('[data-progress="documents"] progress')
    expect(bar).to_have_attribute("value", "77.0", timeout=5000)
    answers()
    status["jobs"][1]["progress"].update(percent=88.0, bytes=150_000_000, eta=3.0)
    write_progress(status, site_dir)
    expect(bar).to_have_attribute("value", "88.0", timeout=5000)
    ticked = answers()
    assert ("live.json", 200) in ticked and "status.json" not in [name for name, _ in ticked], ticked

    status["jobs"][1].update(status="failed", progress=None)
    status["summary"]["running"] = 0
    write_progress(status, site_dir)
    expect(page.locator("#no-active")).to_be_visible(timeout=5000)
    assert ("status.json", 200) in answers()
    assert console_errors == []


def test_job_badges_update_in_place(page: Page, live_site, console_errors: list[str]) -> None:  # type: ignore[no-untyped-def]
    url, site_dir, data = live_site
    page.goto(f"{url}/jobs/index.html")
    badges = page.locator('[data-job-badges="documents"]')
    expect(badges).to_have_text("▶ running")
    status = _status(data)
    status["jobs"][1].update(status="failed", progress=None, overdue=True)
    write_progress(status, site_dir)
    expect(badges).to_have_text("✗ failed◷ overdue", timeout=5000)
    expect(badges.locator(".badge.status-failed")).to_have_count(1)
    assert console_errors == []


def test_logs_filter_search_highlight_and_export(
    page: Page, live_site, artifacts: Path, console_errors: list[str]
) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = live_site
    page.goto(f"{url}/logs.html")
    lines = page.locator("#log li")
    visible = page.locator("#log li:visible")
    total = lines.count()
    assert total == 61
    expect(page.locator("#log-count")).to_have_text(f"Showing {total} of {total} lines.")

    page.select_option("#log-job", "db-dump")
    expect(visible).to_have_count(11)
    page.fill("#log-search", "permission")
    expect(visible).to_have_count(1, timeout=3000)  # after the debounce
    expect(page.locator("#log li:visible mark")).to_have_text(["Permission"])
    expect(page.locator("#log-count")).to_have_text(f"Showing 1 of {total} lines.")
    page.screenshot(path=str(artifacts / "logs-search.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("#log-export")
    download = download_info.value
    assert download.suggested_filename == "backupplan-logs-db-dump.txt"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text == (
        "2026-11-27T03:30:00Z db-dump [rsync] rsync: [sender] send_files failed to open "
        '"/home/anna/Pictures/locked.jpg": Permission denied (13)\n'
    )

    page.select_option("#log-job", "")
    page.fill("#log-search", "")
    expect(visible).to_have_count(total, timeout=3000)
    expect(page.locator("#log mark")).to_have_count(0)
    assert console_errors == []


@pytest.mark.parametrize("relative", PAGES)
def test_every_page_loads_without_console_errors(
    page: Page, live_site, artifacts: Path, console_errors: list[str], relative: str
) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = live_site
    response = page.goto(f"{url}/{relative}")
    assert response is not None and response.status == 200
    expect(page.locator("#age")).to_contain_text(" ago")  # the data's age, by the reader's clock
    expect(page.locator("#stale-banner")).to_be_hidden()  # this fixture's document promises nothing
    expect(page.locator("#live-problem")).to_be_empty()
    name = relative.replace("/", "-").removesuffix(".html")
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / f"{name}-phone-dark.png"), full_page=True)
    assert console_errors == []
    assert page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth + 1"
    )  # no sideways scroll


def test_opened_as_a_file_the_page_says_live_updates_need_a_server(
    page: Page, built_site: Path, console_errors: list[str]
) -> None:
    page.goto((built_site / "index.html").as_uri())
    note = page.locator("#live-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("live updates need a web server")
    expect(note).to_contain_text("reloads every 5 s")
    expect(page.locator('[data-progress="documents"] progress')).to_have_attribute("value", "42.5")
    page.goto((built_site / "logs.html").as_uri())
    expect(page.locator("#log-controls")).to_be_visible()
    expect(page.locator("#live-note")).to_contain_text("Reload the page to see new lines.")
    assert console_errors == []
