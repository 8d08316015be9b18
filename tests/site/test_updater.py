"""SiteUpdater: progress at most once per interval, the newest tick never lost, events at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

from backupplan.site import SiteInput, SiteUpdater


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def percent(site_dir: Path) -> float:
    return float(json.loads((site_dir / "status.json").read_text())["jobs"][1]["progress"]["percent"])


def tick(data: SiteInput, value: float) -> dict:  # type: ignore[type-arg]
    status = json.loads(json.dumps(data.status))
    status["jobs"][1]["progress"]["percent"] = value
    return status


def test_progress_is_written_at_most_once_per_interval(site_input: SiteInput, tmp_path: Path) -> None:
    clock = Clock()
    updater = SiteUpdater(tmp_path / "site", clock=clock, trailing=False)
    assert updater.progress(tick(site_input, 10.0)) is True
    clock.now += 0.3
    assert updater.progress(tick(site_input, 20.0)) is False
    clock.now += 0.3
    assert updater.progress(tick(site_input, 30.0)) is False
    assert percent(tmp_path / "site") == 10.0
    clock.now += 0.5
    assert updater.progress(tick(site_input, 40.0)) is True
    assert percent(tmp_path / "site") == 40.0
    assert updater.writes == 2


def test_the_newest_tick_is_written_when_the_interval_is_over(site_input: SiteInput, tmp_path: Path) -> None:
    updater = SiteUpdater(tmp_path / "site", interval=0.2)
    updater.progress(tick(site_input, 10.0))
    updater.progress(tick(site_input, 55.0))  # held back, then written by the timer
    deadline = time.monotonic() + 5
    while updater.writes < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert percent(tmp_path / "site") == 55.0
    updater.close()


def test_an_event_builds_at_once_and_drops_the_pending_tick(site_input: SiteInput, tmp_path: Path) -> None:
    clock = Clock()
    site_dir = tmp_path / "site"
    updater = SiteUpdater(site_dir, clock=clock, trailing=False)
    updater.progress(tick(site_input, 10.0))
    updater.progress(tick(site_input, 99.0))
    report = updater.event(site_input)
    assert "index.html" in report.written
    assert percent(site_dir) == 42.5  # the event's own status, not the stale tick
    assert updater.flush() is False
    clock.now += 0.5
    assert updater.progress(tick(site_input, 60.0)) is False  # the event counts as a write
