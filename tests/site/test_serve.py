"""The preview server: content types, no listings, no hidden files, the site's 404 page."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from backupplan.site.serve import make_server


@pytest.fixture
def preview(built_site: Path) -> Iterator[str]:
    server = make_server(built_site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def fetch(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/status.json", "application/json"),
        ("/metrics.prom", "text/plain; version=0.0.4; charset=utf-8"),
        ("/feed.xml", "application/atom+xml; charset=utf-8"),
        ("/logs/photos/20261128T020000Z-a28f.txt", "text/plain; charset=utf-8"),
        ("/assets/site.js", "text/javascript; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ],
)
def test_files_are_served_with_their_content_type(preview: str, path: str, content_type: str) -> None:
    status, headers, _ = fetch(preview + path)
    assert (status, headers["Content-Type"]) == (200, content_type)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_status_json_is_never_cached(preview: str) -> None:
    assert fetch(preview + "/status.json?t=1")[1]["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "/logs/",
        "/badges/",
        "/.backupplan-site.json",
        "/.backupplan-site.lock",
        "/../etc/passwd",
        "/nope.html",
    ],
)
def test_listings_hidden_files_and_missing_paths_get_the_404_page(preview: str, path: str) -> None:
    status, headers, body = fetch(preview + path)
    assert status == 404
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"<h1>Not found</h1>" in body


def test_the_command_refuses_a_folder_without_a_site(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(["site", "serve", "--dir", str(tmp_path)])
    assert result.code == 1
    assert result.err == (
        f"backupplan: {tmp_path} holds no site yet (no index.html): it is written after every run and "
        "by `backupplan site build`; or pass the folder with --dir\n"
    )
