"""live.json (backupplan.site.live): the small document pages poll, status.json's version, and
answers of 304 from a stock static server while nothing changed (docs/site.md, "Live updates")."""

from __future__ import annotations

import copy
import http.client
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from site_helpers import http_server, load_fixture

from backupplan.secrets import registry
from backupplan.site import build_site, write_progress
from backupplan.site.live import write_live


def read(site_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((site_dir / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def running_job(status: dict[str, Any]) -> dict[str, Any]:
    return next(job for job in status["jobs"] if job["status"] == "running")


def test_live_json_holds_what_a_poll_needs_and_the_version_of_status_json(tmp_path: Path) -> None:
    data = load_fixture(tmp_path)
    site_dir = tmp_path / "site"
    build_site(data, site_dir)
    status, live = read(site_dir, "status.json"), read(site_dir, "live.json")
    assert live["version"] == status["version"]
    assert len(live["version"]) == 16
    assert {key: live[key] for key in ("generated_at", "host", "freshness")} == {
        key: status.get(key) for key in ("generated_at", "host", "freshness")
    }
    running = [job for job in status["jobs"] if job["status"] == "running"]
    assert live["running"] == [{"id": job["id"], "progress": job["progress"]} for job in running]
    assert (site_dir / "live.json").stat().st_size < 1024
    assert os.stat(site_dir / "live.json").st_mode & 0o777 == 0o644


def test_the_version_changes_with_what_pages_show_not_with_time_alone(tmp_path: Path) -> None:
    data = load_fixture(tmp_path)
    site_dir = tmp_path / "site"
    build_site(data, site_dir)
    first = read(site_dir, "status.json")

    def version_of(status: dict[str, Any]) -> str:
        write_progress(status, site_dir)
        written = read(site_dir, "status.json")
        assert read(site_dir, "live.json")["version"] == written["version"]
        return written["version"]  # type: ignore[no-any-return]

    timely = copy.deepcopy(data.status)
    timely["generated_at"] = "2026-11-28T12:05:00Z"
    timely["freshness"] = {"kept_by": "daemon", "heartbeat": 60, "expected_by": "2026-11-28T12:08:00Z"}
    running_job(timely)["progress"] = {**running_job(timely)["progress"], "bytes": 1, "percent": 99.0}
    if isinstance(timely.get("state_dir"), dict):
        timely["state_dir"]["free_bytes"] = 1
    assert version_of(timely) == first["version"]
    assert read(site_dir, "live.json")["running"][0]["progress"]["percent"] == 99.0

    ended = copy.deepcopy(data.status)
    running_job(ended)["status"] = "succeeded"
    assert version_of(ended) != first["version"]
    assert read(site_dir, "live.json")["running"] == []
    paused = copy.deepcopy(data.status)
    paused["jobs"][0]["paused"] = not paused["jobs"][0]["paused"]
    assert version_of(paused) not in {first["version"], version_of(ended)}


def test_secrets_never_reach_live_json(tmp_path: Path) -> None:
    data = load_fixture(tmp_path)
    site_dir = tmp_path / "site"
    registry.add("hunter2-s3cret", "NAS_PASSWORD")
    status = copy.deepcopy(data.status)
    status["host"] = "nas-hunter2-s3cret"
    running_job(status)["progress"]["file"] = "https://bob:pa55@example.org/hunter2-s3cret.tar?token=abc"
    write_progress(status, site_dir)
    for name in ("live.json", "status.json"):
        text = (site_dir / name).read_text(encoding="utf-8")
        assert "hunter2-s3cret" not in text and "pa55" not in text and "token=abc" not in text, name
        assert "${NAS_PASSWORD}" in text, name


def test_live_json_is_written_only_when_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    assert write_live(tmp_path, b'{"a":1}')
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert not write_live(tmp_path, b'{"a":1}')
    assert path.stat().st_mtime == 1_000_000_000  # not touched: a conditional request still gets 304


def test_two_versions_within_one_second_are_told_apart_by_a_static_server(tmp_path: Path) -> None:
    """A stock `python -m http.server` states Last-Modified to the second and answers
    If-Modified-Since with 304 when the file is not newer: a second version written within the same
    second must still be served (whole), and an unchanged file answered with 304 and no body."""
    write_live(tmp_path, b'{"version":"one"}')
    with http_server(tmp_path) as url:
        address = urlsplit(url)

        def get(since: str | None) -> tuple[int, str | None, bytes]:
            connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
            try:
                connection.request("GET", "/live.json", headers={"If-Modified-Since": since} if since else {})
                response = connection.getresponse()
                return response.status, response.getheader("Last-Modified"), response.read()
            finally:
                connection.close()

        status, modified, body = get(None)
        assert (status, body) == (200, b'{"version":"one"}')
        assert get(modified)[:1] == (304,) and get(modified)[2] == b""
        for version in ("two", "three", "four"):  # several writes in one second, as an event and a tick
            started = time.time()
            assert write_live(tmp_path, b'{"version":"%s"}' % version.encode())
            status, newer, body = get(modified)
            assert (status, body) == (200, b'{"version":"%s"}' % version.encode()), time.time() - started
            assert get(newer)[0] == 304
            modified = newer
