"""History at a glance: the strip of a job's last runs and the calendar of its last 90 days."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from site_helpers import parse_references

from backupplan.site import JobInput, SiteInput, build_site
from backupplan.site.history import STRIP_RUNS, calendar, run_strip
from backupplan.site.reuse import FRAGMENTS

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def run(day: int, status: str, *, hour: int = 2, log: bool = True, **extra: object) -> dict[str, object]:
    run_id = f"202611{day:02d}T{hour:02d}0000Z-r{day:02d}{hour:02d}"
    return {
        "run": run_id,
        "job": "laptop",
        "status": status,
        "started_at": f"2026-11-{day:02d}T{hour:02d}:00:00Z",
        "duration": None if status == "running" else 41.0,
        "bytes": 1048576,
        "log": f"logs/laptop/{run_id}.log" if log else None,
        **extra,
    }


def marks(html: str) -> list[dict[str, str | None]]:
    return [dict(attributes) for tag, attributes in parse_references(html).tags if tag == "a"]


def test_a_strip_shows_the_last_30_runs_oldest_first_each_linked_and_titled() -> None:
    history = [run(28, "running"), run(27, "held"), run(26, "failed", log=False), run(25, "succeeded")]
    history += [run(day, "succeeded") for day in range(24, 0, -1)]
    history += [run(1, status, hour=hour) for hour, status in ((1, "warning"), (0, "skipped"))]
    assert len(history) == 30 + 0 and run(1, "skipped", hour=0) in history
    html = run_strip("laptop", [*history, run(1, "failed", hour=3)][:31], "../", lambda r: f"logs/{r['run']}")
    found = marks(html)
    assert len(found) == STRIP_RUNS
    assert [mark["data-status"] for mark in found[-4:]] == ["succeeded", "failed", "held", "running"]
    assert found[0]["data-status"] == "skipped"  # the 30th newest: oldest on the left
    assert found[-2] == {
        "href": "../logs/20261127T020000Z-r2702",
        "title": "held, 2026-11-27 02:00 UTC, 41s, 1.0 MiB",
        "data-status": "held",
    }
    assert found[-1]["title"] == "running since 2026-11-28 02:00 UTC"
    assert 'data-run-strip="laptop" data-last="2026-11-28T02:00:00Z"' in html
    assert 'role="group" aria-label="Last runs of laptop"' in html


def test_a_strip_of_no_runs_says_so_and_hostile_ids_stay_text() -> None:
    html = run_strip('<img src=x onerror="alert(1)">', [], "", lambda r: "x")
    assert "<img" not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert '<span class="strip-none">no runs yet</span>' in html
    odd = run_strip(
        "j", [{"status": "<b>", "started_at": "<i>", "duration": "1", "bytes": None}], "", lambda r: "x"
    )
    assert marks(odd)[0]["data-status"] == "unknown" and "<i>" not in odd and "<b>" not in odd


def cells(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<span class="day (\w+)" title="(\d{4}-\d\d-\d\d)[^"]*">', html)


def test_the_calendar_tells_each_day_of_the_last_90() -> None:
    history = [run(28, "running"), run(27, "failed"), run(27, "succeeded", hour=9), run(26, "held")]
    history += [run(24, "interrupted"), run(20, "succeeded")]
    status = {"runs": 6, "enabled": True, "deadline": "2026-11-27T03:00:00Z"}
    html = str(calendar(history, status, NOW))
    days = cells(html)
    assert len(days) == 90 and days[0][1] == "2026-08-31" and days[-1][1] == "2026-11-28"
    shown = {day: key for key, day in days}
    assert shown["2026-11-27"] == "ok"  # one good run is enough
    assert (shown["2026-11-26"], shown["2026-11-24"]) == ("bad", "bad")  # held and interrupted
    assert shown["2026-11-28"] == "late"  # past the deadline, nothing good since
    assert (shown["2026-11-25"], shown["2026-11-21"]) == ("none", "none")
    assert shown["2026-11-19"] == "unknown"  # before the oldest run the history holds
    assert html.count('<span class="pad"></span>') == 0  # 2026-08-31 is a Monday: weeks start there
    assert (
        "The 90 days to 2026-11-28 (UTC): 2 backed up, 2 failed, 1 overdue, 4 nothing ran, 81 not on record."
        in html
    )
    assert '<div class="calendar" aria-hidden="true">' in html  # the sentence says it for screen readers
    assert 'title="2026-11-27: backed up (2 runs)"' in html


def test_a_disabled_job_is_never_overdue_and_a_late_spell_starts_at_its_deadline() -> None:
    history = [run(20, "succeeded")]
    late = {day: key for key, day in cells(str(calendar(history, {"deadline": "2026-11-22T03:00:00Z"}, NOW)))}
    assert [late["2026-11-21"], late["2026-11-22"], late["2026-11-28"]] == ["none", "late", "late"]
    disabled = {"deadline": "2026-11-22T03:00:00Z", "enabled": False}
    assert "late" not in {key for key, _ in cells(str(calendar(history, disabled, NOW)))}
    first = cells(str(calendar([], {}, datetime(2026, 11, 26, tzinfo=UTC))))
    assert first[0][1] == "2026-08-29"  # a Saturday: five pads before it


def _glance_input(site_input: SiteInput, count: int) -> SiteInput:
    template = next(job for job in site_input.status["jobs"] if job["id"] == "photos")
    statuses, jobs = [], {}
    for number in range(count):
        job_id = f"job-{number:02d}"
        state = "held" if number == 7 else "failed" if number == 3 else "succeeded"
        history = [dict(run(28, state, log=False), job=job_id)]
        statuses.append(dict(template, id=job_id, status=state, last_run=history[0]))
        jobs[job_id] = JobInput(job_id, {}, [], history)
    return replace(site_input, status=dict(site_input.status, jobs=statuses), jobs=jobs)


def test_the_dashboard_shows_at_most_10_jobs_at_a_glance_needing_a_look_first(
    site_input: SiteInput, tmp_path: Path
) -> None:
    build_site(_glance_input(site_input, 12), tmp_path / "site")
    page = (tmp_path / "site/index.html").read_text()
    shown = re.findall(r'<li><a class="name" href="jobs/(job-\d+)/index.html">', page)
    assert len(shown) == 10 and shown[:2] == ["job-07", "job-03"]
    assert "The 10 of 12 jobs that most need a look" in page
    jobs_page = (tmp_path / "site/jobs/index.html").read_text()
    assert jobs_page.count("data-run-strip=") == 12


def test_strips_are_kept_between_builds_until_their_runs_change(
    site_input: SiteInput, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    build_site(site_input, site)
    kept = dict(FRAGMENTS._kept)
    assert {slot[1] for slot in kept if slot[0] == str(site) and slot[2] == "strip ../"} == set(
        site_input.jobs
    ) | {"music", "old-laptop"}
    photos = site_input.jobs["photos"]
    newer = dict(photos.history[0], run="20261128T110000Z-a28g", started_at="2026-11-28T11:00:00Z", log=None)
    changed = replace(
        site_input, jobs=dict(site_input.jobs, photos=replace(photos, history=[newer, *photos.history]))
    )
    build_site(changed, site, changed_jobs=["documents"])  # photos changed too: its strip is drawn again
    assert (
        'data-run-strip="photos" data-last="2026-11-28T11:00:00Z"' in (site / "jobs/index.html").read_text()
    )
    assert FRAGMENTS._kept[(str(site), "mail", "strip ../")] is kept[(str(site), "mail", "strip ../")]
