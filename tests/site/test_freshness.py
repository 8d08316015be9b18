"""Never silently stale: a page judges its own age, the staleness of its data and which jobs are
overdue by now with the reader's clock, over HTTP and from disk (file://), from a site built from
a real plan and journal and then left alone (docs/site.md, "How a page knows its age")."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from site_helpers import html_pages, http_server, load_fixture

from backupplan.journal import JobLock, Journal
from backupplan.plan.load import load_plan
from backupplan.site import build_site, write_progress
from backupplan.site.text import format_relative, parse_time
from backupplan.status.document import Keeper
from backupplan.status.sitefeed import site_input
from tests.journal.helpers import FROZEN, demo

BUILT = FROZEN  # the site is built "now": 2026-11-28 12:00 UTC; the browser's clock starts there
DAY = 86_400_000  # ms
DAEMON = Keeper("daemon", 60.0)
IMAGE = '"><img src=x onerror=alert(1)>'
HOSTILE_ID = f"<script>alert(1)</script>{IMAGE}"


def build_demo_site(
    root: Path, monkeypatch: pytest.MonkeyPatch, keeper: Keeper, *, pause: str | None = None
) -> Path:
    """The demo plan and journal (a job in every state at BUILT) published as a site at BUILT, on
    host `nas`; `pause` pauses that job first, as `recovery: pause` does. Return the site folder."""
    monkeypatch.setenv("BACKUPPLAN_HOST", "nas")
    plan_path, state_dir = demo(root)
    loaded = load_plan(plan_path)
    with JobLock(state_dir, "docs"), Journal.open(state_dir) as journal:  # docs' runner is alive
        if pause:
            journal.append("job.paused", job=pause, data={"by": "recovery"})
        data = site_input(loaded, journal, now=BUILT, tools=[], keeper=keeper)
    build_site(data, loaded.site_dir)
    return loaded.site_dir


@contextlib.contextmanager
def opened(site_dir: Path, how: str) -> Iterator[str]:
    """The site's base URL: served over HTTP, or the folder itself as a file:// URL."""
    if how == "http":
        with http_server(site_dir) as url:
            yield url
    else:
        yield site_dir.as_uri()


def island(page_path: Path) -> dict:  # type: ignore[type-arg]
    text = page_path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="status-data">(.*?)</script>', text)
    assert match is not None, page_path
    return json.loads(match[1])  # type: ignore[no-any-return]


def overdue_by(status: dict, now: datetime) -> list[str]:  # type: ignore[type-arg]
    """The jobs overdue at `now` by the contract: enabled, not removed, their deadline passed."""
    return [
        job["id"]
        for job in status["jobs"]
        if job["overdue"] or (job["deadline"] and job["enabled"] and parse_time(job["deadline"]) < now)  # type: ignore[operator]
    ]


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    shown: list[str] = []
    page.on("dialog", lambda dialog: (shown.append(dialog.message), dialog.dismiss()))
    return shown


# -- the data each page carries ---------------------------------------------------------------


def test_each_page_carries_what_it_judges_its_age_by(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site_dir = build_demo_site(tmp_path, monkeypatch, DAEMON)
    about = {
        "generated_at": "2026-11-28T12:00:00Z",
        "host": "nas",
        "freshness": {"kept_by": "daemon", "heartbeat": 60.0, "expected_by": "2026-11-28T12:03:00Z"},
    }
    # Pages are rewritten when a run starts or ends, not on a heartbeat: a page promises to be
    # rewritten by the next run of a job it shows (docs at 17:58, here) plus 10 minutes.
    dashboard = island(site_dir / "index.html")
    assert dashboard == {
        **about,
        "page_expected_by": "2026-11-28T18:08:00Z",
        # the jobs "at a glance" (badges recounted by the reader's clock), those needing a look first
        "jobs": [
            {"id": "music", "status": "interrupted"},
            {"id": "docs", "status": "running", "deadline": "2026-11-26T17:01:22Z", "overdue": True},
            {"id": "newcomer", "status": "never_run", "deadline": "2026-11-27T04:00:00Z", "overdue": True},
            {"id": "photos", "status": "succeeded", "deadline": "2026-11-29T03:00:00Z"},
            {"id": "old", "status": "removed", "enabled": False},
            {"id": "archive", "status": "never_run", "enabled": False},
        ],
        # the Overdue card is recounted from these: docs and newcomer are overdue, photos is due
        # at 03:00 tomorrow; music (manual), archive (disabled) and old (removed) never are
        "overdue": {"already": 2, "deadlines": {"2026-11-29T03:00:00Z": 1}},
    }
    jobs = island(site_dir / "jobs/index.html")
    assert jobs["page_expected_by"] == "2026-11-28T18:08:00Z"
    assert sorted(jobs["jobs"], key=lambda job: job["id"]) == [
        {"id": "archive", "status": "never_run", "enabled": False},
        {"id": "docs", "status": "running", "deadline": "2026-11-26T17:01:22Z", "overdue": True},
        {"id": "music", "status": "interrupted"},
        {"id": "newcomer", "status": "never_run", "deadline": "2026-11-27T04:00:00Z", "overdue": True},
        {"id": "old", "status": "removed", "enabled": False},
        {"id": "photos", "status": "succeeded", "deadline": "2026-11-29T03:00:00Z"},
    ]
    photos = island(site_dir / "jobs/photos/index.html")
    assert photos == {
        **about,
        "page_expected_by": "2026-11-29T02:10:00Z",  # photos' own next run: 02:00 tomorrow
        "jobs": [{"id": "photos", "status": "succeeded", "deadline": "2026-11-29T03:00:00Z"}],
    }
    music = island(site_dir / "jobs/music/index.html")  # manual only: nothing rewrites its page
    assert (music["page_expected_by"], music["jobs"]) == (None, [{"id": "music", "status": "interrupted"}])
    settings = island(site_dir / "settings.html")  # rewritten by full builds only
    assert (settings["page_expected_by"], settings["jobs"]) == (None, [])
    logs = island(site_dir / "logs.html")
    assert (logs["page_expected_by"], logs["jobs"]) == ("2026-11-28T18:08:00Z", [])


def test_without_javascript_no_page_states_a_relative_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_dir = build_demo_site(tmp_path, monkeypatch, DAEMON)
    for page in html_pages(site_dir):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"\b(ago|in \d+ (s|min|h|days))\b", text), page
        assert "Live" not in text, page
        for stamp in re.findall(r'<time(?: id="age")? datetime="([^"]+)">([^<]+)</time>', text):
            assert stamp[1] == f"{stamp[0][:10]} {stamp[0][11:16]} UTC", page


def test_the_data_island_keeps_hostile_text_inert(tmp_path: Path) -> None:
    base = load_fixture(tmp_path)
    status = json.loads(json.dumps(base.status))
    status["host"] = f"</script>{IMAGE}"
    template = next(job for job in status["jobs"] if job["id"] == "photos")
    status["jobs"].append(dict(template, id=HOSTILE_ID, deadline="2026-11-28T13:00:00Z"))
    build_site(replace(base, status=status), tmp_path / "site")
    text = (tmp_path / "site/jobs/index.html").read_text(encoding="utf-8")
    data = text.split('<script type="application/json" id="status-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data and "&" not in data and "'" not in data
    parsed = island(tmp_path / "site/jobs/index.html")
    assert parsed["host"] == f"</script>{IMAGE}"
    assert {"id": HOSTILE_ID, "status": "succeeded", "deadline": "2026-11-28T13:00:00Z"} in parsed["jobs"]


# -- in the browser ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("how", ["http", "file"])
def test_a_site_left_alone_for_two_days_says_it_is_stale(
    page: Page,
    console_errors: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    artifacts: Path,
    how: str,
) -> None:
    site_dir = build_demo_site(tmp_path, monkeypatch, DAEMON)
    status = json.loads((site_dir / "status.json").read_text(encoding="utf-8"))
    later = BUILT + timedelta(days=2)
    overdue_then, overdue_later = overdue_by(status, BUILT), overdue_by(status, later)
    assert (len(overdue_then), len(overdue_later)) == (2, 3)  # photos' deadline passes on the 29th
    assert "photos" in overdue_later and "photos" not in overdue_then
    with opened(site_dir, how) as base:
        page.clock.install(time=BUILT)
        page.goto(f"{base}/index.html")
        expect(page.locator("#age")).to_have_text(re.compile(r"^(just now|\d+ s ago)$"))
        expect(page.locator("#stale-banner")).to_be_hidden()
        expect(page.locator('[data-stat="overdue"]')).to_have_text(str(len(overdue_then)))

        page.clock.fast_forward(2 * DAY)  # nothing rewrites the site: the daemon is dead
        banner = page.locator("#stale-banner")
        expect(banner).to_be_visible()
        expect(banner).to_have_attribute("role", "alert")
        expect(banner).to_have_text(
            "◷ No update since 2026-11-28 12:00 UTC — is the daemon still running on nas?"
        )
        expect(page.locator("#age")).to_have_text("2 days ago")
        expect(page.locator("#live")).to_have_class(re.compile(r"\bstale\b"))
        card = page.locator('[data-stat="overdue"]')
        expect(card).to_have_text(str(len(overdue_later)))
        expect(page.locator(".card", has=card)).to_have_class(re.compile(r"\bcard-bad\b"))
        page.screenshot(path=str(artifacts / f"stale-dashboard-{how}.png"), full_page=True)

        reloaded = page.expect_event("load") if how == "file" else contextlib.nullcontext()
        with reloaded:  # from disk the page reloads every refresh: each load judges its age again
            page.clock.fast_forward(3 * 5_000)
        expect(banner).to_be_visible()
        expect(page.locator("#age")).to_have_text("2 days ago")

        page.goto(f"{base}/jobs/index.html")
        expect(page.locator('[data-job-badges="photos"]')).to_have_text("✓ succeeded◷ overdue")
        expect(page.locator('[data-job-badges="music"]')).to_have_text("↯ interrupted")  # manual only
        expect(page.locator('[data-job-badges="archive"]')).to_have_text("⊘ disabled")
        expect(page.locator("#stale-banner")).to_be_visible()
        page.goto(f"{base}/jobs/photos/index.html")
        expect(page.locator('h1 [data-job-badges="photos"]')).to_have_text("✓ succeeded◷ overdue")
        expect(page.locator("#stale-banner")).to_contain_text("on nas")
    assert console_errors == []  # a CSP violation would be one


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("how", ["http", "file"])
def test_a_fresh_site_shows_no_banner_and_no_extra_overdue(
    page: Page, console_errors: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    site_dir = build_demo_site(tmp_path, monkeypatch, DAEMON)
    with opened(site_dir, how) as base:
        page.clock.install(time=BUILT + timedelta(seconds=10))
        page.goto(f"{base}/index.html")
        page.wait_for_load_state("networkidle")  # the first poll of status.json is in
        expect(page.locator("#age")).to_have_text(re.compile(r"^1\d s ago$"))
        expect(page.locator('[data-stat="overdue"]')).to_have_text("2")
        page.goto(f"{base}/jobs/index.html")
        page.wait_for_load_state("networkidle")
        expect(page.locator('[data-job-badges="photos"]')).to_have_text("✓ succeeded")
        expect(page.locator('[data-job-badges="newcomer"]')).to_have_text("○ never run◷ overdue")
        expect(page.locator("#stale-banner")).to_be_hidden()
        expect(page.locator("#live")).not_to_have_class(re.compile(r"\bstale\b"))
    assert console_errors == []


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("how", ["http", "file"])
def test_a_quiet_daemon_is_not_called_dead(
    page: Page, console_errors: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A daemon rewrites status.json every minute but pages only when something happens: two quiet
    hours later the pages are two hours old, and that is no reason for alarm."""
    site_dir = build_demo_site(tmp_path, monkeypatch, DAEMON)
    beat = BUILT + timedelta(hours=2)
    status = json.loads((site_dir / "status.json").read_text(encoding="utf-8"))
    status.update(generated_at="2026-11-28T14:00:00Z")
    status["freshness"].update(expected_by="2026-11-28T14:03:00Z")
    write_progress(status, site_dir)  # the heartbeat
    with opened(site_dir, how) as base:
        page.clock.install(time=beat + timedelta(seconds=30))
        page.goto(f"{base}/index.html")
        page.wait_for_load_state("networkidle")
        # over HTTP the page reads status.json's age; from disk, its own
        expect(page.locator("#age")).to_have_text(
            re.compile(r"^3\d s ago$" if how == "http" else r"^2 h ago$")
        )
        expect(page.locator("#stale-banner")).to_be_hidden()
        if how == "file":  # the page's own promise: rewritten by the next run (docs, 17:58) + 10 min
            page.clock.fast_forward(
                int((datetime(2026, 11, 28, 18, 9, tzinfo=UTC) - beat).total_seconds() * 1000)
            )
            expect(page.locator("#stale-banner")).to_contain_text("No update since 12:00 UTC")
    assert console_errors == []


@pytest.mark.browser
@pytest.mark.slow
def test_a_manual_site_shows_its_age_but_no_banner(
    page: Page, console_errors: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_dir = build_demo_site(tmp_path, monkeypatch, Keeper("manual"))
    assert json.loads((site_dir / "status.json").read_text())["freshness"]["expected_by"] is None
    with http_server(site_dir) as base:
        page.clock.install(time=BUILT + timedelta(days=2, hours=1))
        page.goto(f"{base}/index.html")
        page.wait_for_load_state("networkidle")
        expect(page.locator("#age")).to_have_text("2 days ago")
        expect(page.locator("#stale-banner")).to_be_hidden()
        expect(page.locator('[data-stat="overdue"]')).to_have_text("3")  # deadlines still pass
    assert console_errors == []


@pytest.mark.browser
@pytest.mark.slow
def test_a_paused_job_past_its_deadline_shows_paused_and_overdue(
    page: Page, console_errors: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_dir = build_demo_site(tmp_path, monkeypatch, DAEMON, pause="photos")
    page.clock.install(time=BUILT + timedelta(seconds=5))
    page.goto((site_dir / "jobs/photos/index.html").as_uri())
    badges = page.locator('h1 [data-job-badges="photos"]')
    expect(badges).to_have_text("‖ paused")
    page.clock.fast_forward(2 * DAY)
    expect(badges).to_have_text("‖ paused◷ overdue")
    assert console_errors == []


@pytest.mark.browser
@pytest.mark.slow
def test_relative_times_come_from_the_readers_clock(
    page: Page,
    console_errors: list[str],
    chromium_browser: Browser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site_dir = build_demo_site(tmp_path, monkeypatch, DAEMON)
    now = BUILT + timedelta(hours=5, minutes=30)  # not on an hour: the installed clock moves on
    page.clock.install(time=now)
    page.goto((site_dir / "jobs/photos/index.html").as_uri())
    next_run = page.locator("#next-heading + ul time").first
    expect(next_run).to_have_attribute("datetime", "2026-11-29T02:00:00Z")
    expect(next_run).to_have_text(f"2026-11-29 02:00 UTC ({format_relative('2026-11-29T02:00:00Z', now)})")
    assert format_relative("2026-11-29T02:00:00Z", now) == "in 8 h"
    page.goto((site_dir / "index.html").as_uri())
    applied = page.locator("#plan-heading + p time")
    expect(applied).to_have_attribute("datetime", "2026-11-27T09:00:00Z")
    expect(applied).to_have_text("2026-11-27 09:00 UTC (32 h ago)")
    page.clock.fast_forward(2 * DAY)  # refreshed in place, with no new data
    expect(applied).to_have_text("2026-11-27 09:00 UTC (3 days ago)")
    assert console_errors == []

    without_script = chromium_browser.new_context(java_script_enabled=False)
    try:
        static = without_script.new_page()
        static.goto((site_dir / "index.html").as_uri())
        expect(static.locator("#plan-heading + p time")).to_have_text("2026-11-27 09:00 UTC")
        expect(static.locator("#age")).to_have_text("2026-11-28 12:00 UTC")
        expect(static.locator("#live")).to_have_text("Status written 2026-11-28 12:00 UTC")
        shown = static.locator("body").inner_text()
        assert " ago" not in shown and "(in " not in shown and "Live" not in shown
        expect(static.locator("#stale-banner")).to_be_hidden()
    finally:
        without_script.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("how", ["http", "file"])
def test_hostile_host_and_job_ids_stay_text(
    page: Page,
    console_errors: list[str],
    dialogs: list[str],
    tmp_path: Path,
    how: str,
) -> None:
    base_input = load_fixture(tmp_path)
    status = json.loads(json.dumps(base_input.status))
    status.update(
        host=IMAGE,
        freshness={"kept_by": "timer", "heartbeat": None, "expected_by": "2026-11-28T13:00:00Z"},
    )
    template = next(job for job in status["jobs"] if job["id"] == "photos")
    status["jobs"].append(dict(template, id=HOSTILE_ID, deadline="2026-11-28T13:00:00Z"))
    site_dir = tmp_path / "site"
    build_site(replace(base_input, status=status), site_dir)
    with opened(site_dir, how) as base:
        page.clock.install(time=BUILT + timedelta(days=1))
        page.goto(f"{base}/jobs/index.html")
        banner = page.locator("#stale-banner")
        expect(banner).to_have_text(
            f"◷ No update since 2026-11-28 12:00 UTC — is the timer (backupplan apply) still running on {IMAGE}?"
        )
        hostile = page.locator(f"[data-job-badges={json.dumps(HOSTILE_ID)}]")
        expect(hostile).to_have_text("✓ succeeded◷ overdue")
        expect(page.locator("img")).to_have_count(0)
        page.goto(f"{base}/index.html")
        expect(banner).to_contain_text(IMAGE)
        expect(page.locator("img")).to_have_count(0)
    assert dialogs == []
    assert console_errors == []
