"""Fixtures for the site tests: a fixed input under a frozen clock, built sites, served sites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page
from site_helpers import http_server, load_fixture
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from backupplan.site import SiteInput, build_site
from tests.browser import chromium

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "site"


@pytest.fixture
def site_input(tmp_path: Path) -> SiteInput:
    return load_fixture(tmp_path)


@pytest.fixture
def built_site(site_input: SiteInput) -> Path:
    site_dir = Path(site_input.paths.site_dir)
    build_site(site_input, site_dir)
    return site_dir


def _extension(suffix: str) -> type[SingleFileSnapshotExtension]:
    return type(
        f"{suffix.upper()}Snapshot",
        (SingleFileSnapshotExtension,),
        {"_write_mode": WriteMode.TEXT, "file_extension": suffix},
    )


@pytest.fixture
def snapshot_file(snapshot):  # type: ignore[no-untyped-def]
    """snapshot_file("html") == text: one snapshot file per test, with that extension."""
    return lambda suffix: snapshot.use_extension(_extension(suffix))


@pytest.fixture
def served(built_site: Path) -> Iterator[tuple[str, Path]]:
    """The built fixture site served by a stock `python -m http.server` on 127.0.0.1."""
    with http_server(built_site) as url:
        yield url, built_site


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    """Debian's chromium (no downloaded browser), for one test module only (tests.browser)."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium_browser: Browser) -> Iterator[Page]:
    context = chromium_browser.new_context(accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Console errors and warnings (a CSP violation is one) and uncaught exceptions of `page`."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            errors.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    return errors


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
