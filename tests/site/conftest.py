"""Fixtures for the site tests: a fixed input under a frozen clock, built sites, served sites."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page
from site_helpers import free_port, load_fixture, wait_port
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from backupplan.site import SiteInput, build_site

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(built_site),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, process)
        yield f"http://127.0.0.1:{port}", built_site
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    """Debian's chromium (no downloaded browser), for one test module only.

    pytest-playwright's session-wide browser keeps its event loop marked as running in the main
    thread until the session ends, which breaks every later test that calls asyncio.run(); this
    one is started and stopped with the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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
