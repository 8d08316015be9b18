"""The fleet page, built from three simulated hosts that publish to a folder: a host that stops
publishing is silent (on the page as built, and again by the browser's own clock when nobody
rebuilds it), the host with a failed job sorts before the healthy ones, and a damaged or hostile
host document is reported for its host, escaped, and breaks nothing else."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backupplan.fleet import hosts as fleet_hosts
from backupplan.fleet.build import build_fleet
from tests.fleet.helpers import HOSTS, as_host, fleet_plan

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LATER = "+3h"  # a and b run again three hours later; c has stopped
IMAGE = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three hosts applied now; a fleet page built now; a and b applied again three hours later
    (faketime), and a fleet page built then. Return the folders."""
    root = tmp_path_factory.mktemp("fleet")
    plan = fleet_plan(root, "shared")
    (root / "shared").mkdir()
    for host in HOSTS:
        as_host(host, ["apply"], plan)
    now = as_host("a", ["fleet", "build", "--site", str(root / "page-now"), "--every", "10m"], plan)
    assert now.returncode == 0, now.stdout + now.stderr
    for host in ("a", "b"):
        again = as_host(host, ["apply"], plan, offset=LATER)
        assert f"acting as host {host}" in again.stdout, again.stdout + again.stderr
    later = as_host("a", ["fleet", "build", "--site", str(root / "page-later")], plan, offset=LATER)
    assert later.returncode == 1, later.stdout + later.stderr  # a host is silent
    assert "3 hosts, 1 silent, 1 failed or held jobs" in later.stdout
    return {"root": root, "now": root / "page-now", "later": root / "page-later", "shared": root / "shared"}


def built_at(site: Path) -> datetime:
    return datetime.fromisoformat(json.loads((site / "status.json").read_text())["generated_at"])


def test_the_stopped_host_is_silent_and_first(fleet: dict[str, Path]) -> None:
    document = json.loads((fleet["later"] / "status.json").read_text())
    assert [(host["host"], host["silent"], host["state"]) for host in document["hosts"]] == [
        ("c", True, "critical"),
        ("b", False, "critical"),  # a failed job
        ("a", False, "ok"),
    ]
    assert document["hosts"][2]["site"] == "../shared/a/index.html"  # a folder: relative links
    metrics = (fleet["later"] / "metrics.prom").read_text()
    assert (
        'backupplan_fleet_host_up{host="c"} 0' in metrics
        and 'backupplan_fleet_host_up{host="a"} 1' in metrics
    )
    feed = (fleet["later"] / "feed.xml").read_text()
    assert "<title>c is silent</title>" in feed and "<title>b: broken failed</title>" in feed


def test_the_page_shows_the_silent_host(fleet: dict[str, Path], page: Page) -> None:
    page.clock.install(time=built_at(fleet["later"]) + timedelta(minutes=1))
    page.goto((fleet["later"] / "index.html").as_uri())
    expect(page.locator("#silent-banner")).to_be_visible()
    expect(page.locator("#silent-title")).to_have_text("1 silent host")
    expect(page.locator("#silent-names")).to_have_text("c")
    rows = page.locator("tr[data-host]")
    expect(rows.nth(0)).to_have_attribute("data-host", "c")
    expect(rows.nth(0).locator("[data-state]")).to_have_text("silent")
    expect(rows.nth(2).locator("th a")).to_have_attribute("href", "../shared/a/index.html")
    expect(page.locator("#stale-banner")).to_be_hidden()
    page.locator("tr[data-host='a'] th a").click()  # the host's own site, as published
    expect(page).to_have_title("Dashboard · backupplan")


def test_the_browser_finds_silent_hosts_on_a_page_nobody_rebuilt(fleet: dict[str, Path], page: Page) -> None:
    built = built_at(fleet["now"])
    page.clock.install(time=built + timedelta(minutes=1))
    page.goto((fleet["now"] / "index.html").as_uri())
    expect(page.locator("#silent-banner")).to_be_hidden()
    page.clock.fast_forward(3 * 3600 * 1000)
    expect(page.locator("#silent-title")).to_have_text("3 silent hosts", timeout=20_000)
    expect(page.locator("#silent-count")).to_have_text("3")
    expect(page.locator("#stale-banner")).to_contain_text("should be rebuilt every 10 min")


def test_damaged_and_hostile_hosts_break_nothing(
    fleet: dict[str, Path], page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shutil.copytree(fleet["shared"], shared)
    evil = json.loads((shared / "b" / "status.json").read_text())
    evil["host"] = f"<script>alert(1)</script>{IMAGE}"
    evil["jobs"][0]["id"] = f"<script>alert(2)</script>{IMAGE}"
    evil["jobs"][0]["status"] = "failed"
    evil["jobs"][0]["last_run"] = {"reason": f"exit 23 {IMAGE}\n<b>bold</b>", "finished_at": "soon"}
    (shared / "evil").mkdir()
    (shared / "evil" / "status.json").write_text(json.dumps(evil))
    for name, data in {
        "torn": b'{"format": 1, "generated_at": "2026-',
        "future": json.dumps({"format": 99, "generated_at": "2026-12-01T00:00:00Z", "jobs": []}).encode(),
        "array": b"[1, 2, 3]",
        "huge": b" " * 300_000 + b"{}",
        "<b>x<b>": b"{}",
    }.items():
        (shared / name).mkdir()
        (shared / name / "status.json").write_bytes(data)
    monkeypatch.setattr(fleet_hosts, "DOCUMENT_LIMIT", 256 * 1024)
    site = tmp_path / "page"
    report = build_fleet(
        str(shared), site, base_dir=tmp_path, now=built_at(fleet["now"]) + timedelta(minutes=1)
    )
    assert report.damaged == 5 and report.hosts == 9
    document = json.loads((site / "status.json").read_text())
    reasons = {host["host"]: host["damaged"] for host in document["hosts"] if host["damaged"]}
    assert reasons == {
        "<b>x<b>": "its folder name is not a host name",
        "array": "not a backupplan status document: not a JSON object",
        "future": "status format 99 is newer than this backupplan reads (1): upgrade it here",
        "huge": "status.json is 293.0 KiB: more than 256.0 KiB is not read",
        "torn": "status.json is not valid JSON (torn or damaged upload)",
    }
    healthy = {host["host"]: host["state"] for host in document["hosts"] if not host["damaged"]}
    assert healthy == {"a": "ok", "b": "critical", "c": "ok", "evil": "critical"}

    shown: list[str] = []
    page.on("dialog", lambda dialog: (shown.append(dialog.message), dialog.dismiss()))
    page.clock.install(time=built_at(site) + timedelta(seconds=30))
    page.goto((site / "index.html").as_uri())
    expect(page.locator("tr[data-host='<b>x<b>'] th")).to_have_text("<b>x<b>")
    attention = page.locator("#attention-table")
    expect(attention.get_by_text(f"<script>alert(2)</script>{IMAGE}", exact=True)).to_have_count(1)
    expect(attention.get_by_text(f"exit 23 {IMAGE} <b>bold</b>")).to_have_count(1)
    expect(page.locator("tr[data-host='evil'] td").last).to_contain_text(
        "publishes as '<script>alert(1)</script>"
    )
    assert page.locator("img").count() == 0 and page.locator("main b").count() == 0
    assert shown == []
    assert json.loads((site / "status.json").read_text())["summary"]["damaged"] == 5
