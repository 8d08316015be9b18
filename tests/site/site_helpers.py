"""Helpers for the site tests (a uniquely named module: `conftest` is ambiguous across areas)."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import IO

from backupplan.site import SiteInput, load_site_input
from tests.servers import free_port, wait_port

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(tmp_path: Path) -> SiteInput:
    """The fixed input, with its logs and changes lists (gzipped, as the runner keeps them) copied
    into a state dir under tmp_path."""
    state = tmp_path / "state"
    shutil.copytree(FIXTURES / "logs", state / "logs")
    for listed in (FIXTURES / "changes").glob("*/*.changes"):
        write_changes(state / "logs" / listed.parent.name / f"{listed.stem}.changes.gz", listed.read_bytes())
    return load_site_input(
        FIXTURES / "site_input.json", state_dir=str(state), site_dir=str(tmp_path / "site")
    )


def write_changes(path: Path, data: bytes) -> Path:
    """A changes list as the runner keeps it: gzip, 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0))
    path.chmod(0o600)
    return path


class References(HTMLParser):
    """Collects href/src values, start tags in order, and attributes of every element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)

    handle_startendtag = handle_starttag


def parse_references(text: str) -> References:
    parser = References()
    parser.feed(text)
    parser.close()
    return parser


def html_pages(site_dir: Path) -> list[Path]:
    return sorted(site_dir.rglob("*.html"))


def all_files(site_dir: Path) -> list[Path]:
    return sorted(path for path in site_dir.rglob("*") if path.is_file())


def mode_of(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


@contextlib.contextmanager
def http_server(site_dir: Path, access_log: IO[bytes] | None = None) -> Iterator[str]:
    """Serve `site_dir` with a stock `python -m http.server` on 127.0.0.1; yield its base URL.
    `access_log` gets the server's log: a line per request, with the status it answered."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(site_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if access_log is None else access_log,
    )
    try:
        wait_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
