"""Every page in real Chromium on a phone (390x844) and a wide screen (1280x800), light and dark:
nothing wider than the screen, job names never split, the history strips and calendar, the held
banner and a run's changed paths (hostile ones stay text), and no axe-core violation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from site_helpers import http_server

from backupplan.site import JobInput, SiteInput, build_site, write_progress

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGES = [
    "index.html",
    "jobs/index.html",
    "jobs/home-mirror/index.html",
    "jobs/photos/index.html",
    "jobs/documents/index.html",
    "jobs/music/index.html",
    "logs.html",
    "settings.html",
    "404.html",
]
SCREENS = {"phone": {"width": 390, "height": 844}, "wide": {"width": 1280, "height": 800}}
AXE = str(files("axe_playwright_python") / "axe.min.js")  # axe-core, as the package ships it
LONG_NAME = "offsite-copy_of-the-family-photo-archive"
# The characters after which a link's text goes on to a new line, as the browser laid it out.
LINE_BREAKS = """(link) => {
  const breaks = []; let top = null; let previous = "";
  const walker = document.createTreeWalker(link, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let index = 0; index < node.length; index += 1) {
      const range = document.createRange(); range.setStart(node, index); range.setEnd(node, index + 1);
      const rect = range.getClientRects()[0];
      if (!rect) { continue; }
      if (top !== null && rect.top > top + 2) { breaks.push(previous); }
      top = rect.top; previous = node.data[index];
    }
  }
  return breaks;
}"""
JOB_LINKS = 'table a[href$="/index.html"], .glance a[href$="/index.html"]'


@pytest.fixture
def context(chromium_browser: Browser) -> Iterator[BrowserContext]:
    """A context whose pages may run axe-core: injected scripts are not the site's own, and the
    site's CSP (script-src 'self') would refuse them."""
    context = chromium_browser.new_context(bypass_csp=True)
    try:
        yield context
    finally:
        context.close()


def _fits(page: Page, where: str) -> int:
    """Assert the page is no wider than the screen and each job link is on one line; return how
    many job links there were."""
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{where}: {width[0]} px wide on a {width[1]} px screen"
    links = page.locator(JOB_LINKS).all()
    for link in links:
        lines = link.evaluate("(link) => link.getClientRects().length")
        assert lines == 1, f"{where}: job link {link.inner_text()!r} is on {lines} lines"
    return len(links)


@pytest.mark.parametrize("screen", SCREENS)
def test_every_page_fits_the_screen_and_keeps_job_names_whole(
    context: BrowserContext, served: tuple[str, Path], artifacts: Path, screen: str
) -> None:
    url, _ = served
    page = context.new_page()
    page.set_viewport_size(SCREENS[screen])
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for relative in PAGES:
            page.goto(f"{url}/{relative}")
            expect(page.locator("#age")).to_contain_text(" ago")
            links = _fits(page, f"{relative} ({screen}, {scheme})")
            if relative in ("index.html", "jobs/index.html"):
                assert links > 0, f"{relative}: no job link was measured"
            name = relative.replace("/", "-").removesuffix(".html")
            page.screenshot(path=str(artifacts / f"{screen}-{scheme}-{name}.png"), full_page=True)
    # the navigation stays usable: every link on screen, none under another
    boxes = [link.bounding_box() for link in page.locator("header nav a").all()]
    assert boxes, "no navigation link found"
    assert all(box and box["x"] >= 0 and box["x"] + box["width"] <= SCREENS[screen]["width"] for box in boxes)


def _long_named(site_input: SiteInput) -> SiteInput:
    status = json.loads(json.dumps(site_input.status))
    photos = next(job for job in status["jobs"] if job["id"] == "photos")
    status["jobs"].append(dict(photos, id=LONG_NAME, last_run=dict(photos["last_run"], job=LONG_NAME)))
    status["recent_runs"].insert(
        0, dict(photos["last_run"], job=LONG_NAME, started_at="2026-11-28T12:00:01Z")
    )
    history = [dict(run, job=LONG_NAME, log=None) for run in site_input.jobs["photos"].history]
    jobs = dict(site_input.jobs, **{LONG_NAME: JobInput(LONG_NAME, {}, [], history)})
    return replace(site_input, status=status, jobs=jobs)


def test_a_long_job_name_wraps_only_after_a_separator(
    context: BrowserContext, site_input: SiteInput, artifacts: Path
) -> None:
    site = Path(site_input.paths.site_dir)
    build_site(_long_named(site_input), site)
    page = context.new_page()
    with http_server(site) as url:
        for width in (320, 390):
            page.set_viewport_size({"width": width, "height": 800})
            for relative in ("index.html", "jobs/index.html", f"jobs/{LONG_NAME}/index.html"):
                page.goto(f"{url}/{relative}")
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                links = page.locator(f'a[href$="jobs/{LONG_NAME}/index.html"], h1 > span').all()
                assert links, (relative, width)  # the long name is on every one of these pages
                for link in links:
                    assert set(link.evaluate(LINE_BREAKS)) <= {"-", "_", "/"}, (relative, width)
            page.screenshot(path=str(artifacts / f"long-name-{width}.png"), full_page=True)


def _laptop(site_input: SiteInput) -> SiteInput:
    """A job whose runs succeeded, failed, were held, and one runs now."""
    runs = []
    for day, status in ((25, "succeeded"), (26, "failed"), (27, "held"), (28, "running")):
        run_id = f"202611{day}T020000Z-l{day}a"
        runs.insert(0, {
            "run": run_id, "job": "laptop", "status": status, "started_at": f"2026-11-{day}T02:00:00Z",
            "duration": None if status == "running" else 30.0, "bytes": 2048, "files": 2, "attempts": 1,
            "log": f"logs/laptop/{run_id}.log" if day == 25 else None, "changes": None,
        })  # fmt: skip
    log = Path(site_input.paths.state_dir) / "logs/laptop/20261125T020000Z-l25a.log"
    log.parent.mkdir(parents=True)
    log.write_text("2026-11-25T02:00:00Z [backupplan] run finished: succeeded\n")
    status = json.loads(json.dumps(site_input.status))
    photos = next(job for job in status["jobs"] if job["id"] == "photos")
    status["jobs"].append(dict(photos, id="laptop", status="running", last_run=runs[0]))
    return replace(
        site_input, status=status, jobs=dict(site_input.jobs, laptop=JobInput("laptop", {}, [], runs))
    )


def test_the_strip_shows_each_run_as_a_mark(context: BrowserContext, site_input: SiteInput) -> None:
    site = Path(site_input.paths.site_dir)
    build_site(_laptop(site_input), site)
    page = context.new_page()
    with http_server(site) as url:
        for relative, root in (("index.html", ""), ("jobs/index.html", "../")):
            page.goto(f"{url}/{relative}")
            marks = page.locator('[data-run-strip="laptop"] [data-status]')
            expect(marks).to_have_count(4)
            assert [mark.get_attribute("data-status") for mark in marks.all()] == [
                "succeeded", "failed", "held", "running",
            ]  # fmt: skip
            glyphs = [mark.evaluate("(m) => getComputedStyle(m, '::before').content") for mark in marks.all()]
            assert glyphs == ['"✓" / ""', '"✗" / ""', '"⚠" / ""', '"▶" / ""']  # a shape, not a colour alone
            colours = {mark.evaluate("(m) => getComputedStyle(m).backgroundColor") for mark in marks.all()}
            assert len(colours) == 3  # failed and held share red; told apart by their glyphs
            expect(marks.nth(0)).to_have_attribute("href", f"{root}logs/laptop/20261125T020000Z-l25a.txt")
            expect(marks.nth(1)).to_have_attribute("href", f"{root}jobs/laptop/index.html")  # no log
            expect(marks.nth(2)).to_have_attribute("title", "held, 2026-11-27 02:00 UTC, 30s, 2.0 KiB")
            expect(marks.nth(3)).to_have_attribute("title", "running since 2026-11-28 02:00 UTC")
            expect(page.get_by_role("link", name="failed, 2026-11-26 02:00 UTC, 30s, 2.0 KiB")).to_have_count(
                1
            )


def test_live_updates_add_a_mark_for_a_run_that_starts(
    chromium_browser: Browser, site_input: SiteInput, console_errors: list[str]
) -> None:
    data = replace(site_input, refresh=1.0)
    site = Path(data.paths.site_dir)
    build_site(data, site)
    page = chromium_browser.new_page()
    try:
        with http_server(site) as url:
            page.goto(f"{url}/index.html")
            marks = page.locator('[data-run-strip="photos"] [data-status]')
            expect(marks).to_have_count(8)
            status = json.loads(json.dumps(data.status))
            photos = next(job for job in status["jobs"] if job["id"] == "photos")
            started = dict(photos["last_run"], run="20261128T120500Z-a28x", status="running",
                           started_at="2026-11-28T12:05:00Z", duration=None, bytes=None)  # fmt: skip
            photos.update(status="running", last_run=started)
            status["summary"]["held"] = 0
            write_progress(status, site)
            expect(marks).to_have_count(9, timeout=5000)
            expect(marks.last).to_have_attribute("data-status", "running")
            expect(marks.last).to_have_attribute("title", "running since 2026-11-28 12:05 UTC")
            expect(marks.last).to_have_attribute("href", "jobs/photos/index.html")
            expect(page.locator('[data-stat="held"]')).to_have_text("0")
            expect(page.locator('.card:has([data-stat="held"])')).not_to_have_class("card card-bad")
            photos["last_run"] = dict(started, status="succeeded", duration=61.0, bytes=3 * 1048576)
            photos["status"] = "succeeded"
            write_progress(status, site)
            expect(marks.last).to_have_attribute("data-status", "succeeded", timeout=5000)
            expect(marks.last).to_have_attribute("title", "succeeded, 2026-11-28 12:05 UTC, 1m01s, 3.0 MiB")
            expect(marks).to_have_count(9)
        assert console_errors == [] or all("status.json" in error for error in console_errors)
    finally:
        page.close()


def test_the_held_banner_and_the_changed_paths(context: BrowserContext, served: tuple[str, Path]) -> None:
    url, _ = served
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{url}/index.html")
    banner = page.get_by_role("alert").filter(has_text="held")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("held: 812 of 1,000 files would be deleted (limit 10%)")
    expect(banner).to_contain_text("backupplan run home-mirror --accept-changes")
    expect(banner).to_contain_text("backupplan changes home-mirror")
    expect(banner).to_contain_text("home/anna/notes/<img src=x onerror=alert(1)>.md")

    page.goto(f"{url}/jobs/home-mirror/index.html")
    expect(page.get_by_role("alert").filter(has_text="Held: nothing new is backed up")).to_be_visible()
    items = page.locator("#changes-list li")
    shown = page.locator("#changes-list li:visible")
    expect(items).to_have_count(300)
    expect(page.locator("#changes-count")).to_have_text("Showing 300 of 300 paths.")
    page.fill("#changes-search", "script")
    expect(shown).to_have_count(1, timeout=3000)
    expect(shown).to_have_text("− home/anna/Documents/</li><script>alert(1)</script>.txt")
    expect(shown.locator("mark")).to_have_text(["script", "script"])
    assert page.locator("#changes-list script, #changes-list img").count() == 0
    page.fill("#changes-search", "")
    page.select_option("#changes-kind", "added")
    expect(shown).to_have_count(2, timeout=3000)
    expect(shown.nth(1)).to_have_text("+ home/anna/notes/<img src=x onerror=alert(1)>.md")
    page.select_option("#changes-kind", "")
    expect(shown).to_have_count(300, timeout=3000)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download every path").click()
    text = Path(download.value.path()).read_text()
    assert text.count("\n") == 815 and "- home/anna/Documents/</li><script>alert(1)</script>.txt\n" in text
    assert dialogs == []


def test_without_javascript_the_paths_are_simply_listed(
    chromium_browser: Browser, served: tuple[str, Path]
) -> None:
    url, _ = served
    context = chromium_browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{url}/jobs/home-mirror/index.html")
        expect(page.locator("#changes-list li:visible")).to_have_count(300)
        expect(page.locator("#changes-controls")).to_be_hidden()
        page.goto(f"{url}/index.html")
        expect(page.locator('[data-run-strip="photos"] [data-status]')).to_have_count(8)
    finally:
        context.close()


@pytest.mark.parametrize("screen", SCREENS)
def test_axe_core_finds_no_violation_in_either_theme(
    context: BrowserContext, served: tuple[str, Path], screen: str
) -> None:
    url, _ = served
    page = context.new_page()
    page.set_viewport_size(SCREENS[screen])
    found = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for relative in PAGES:
            page.goto(f"{url}/{relative}")
            expect(page.locator("#age")).to_contain_text(" ago")  # the script has run
            page.add_script_tag(path=AXE)
            result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            found[f"{relative} ({scheme})"] = [
                (item["id"], [node["target"] for node in item["nodes"]]) for item in result["violations"]
            ]
    assert {where: problems for where, problems in found.items() if problems} == {}
