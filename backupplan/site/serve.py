"""A preview server for the site on 127.0.0.1: the standard library's, made strict.

It serves files from the site folder only, with the right content types (JSON, plain text for logs
and metrics, Atom for the feed), never lists a folder, never serves hidden files (the build's
manifest and lock), answers unknown paths with the site's 404.html, and sends the headers a real
deployment should send (CSP with frame-ancestors, nosniff, no caching of status.json).
"""

from __future__ import annotations

import http.server
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from backupplan.site.templating import CSP

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".prom": "text/plain; version=0.0.4; charset=utf-8",
    ".xml": "application/atom+xml; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves one site folder; see the module docstring for what it refuses."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **CONTENT_TYPES}  # noqa: RUF012
    report: Callable[[str], None] = staticmethod(lambda line: None)

    def send_head(self) -> Any:
        path = self.translate_path(self.path)
        relative = os.path.relpath(path, self.directory)
        if any(part.startswith(".") for part in Path(relative).parts if part not in (".", "")):
            self.send_error(404)
            return None
        if os.path.isdir(path):
            index = os.path.join(path, "index.html")
            if not os.path.isfile(index):
                self.send_error(404)
                return None
        return super().send_head()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(404)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", CONTENT_TYPES[".html"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP + "; frame-ancestors 'none'")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if self.path.split("?", 1)[0].endswith("status.json"):
            self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        self.report(f"{self.address_string()} {format % args}")


def make_server(
    site_dir: Path, port: int = 8000, report: Callable[[str], None] | None = None
) -> http.server.ThreadingHTTPServer:
    """Given a site folder, return a threading HTTP server for it bound to 127.0.0.1:`port` (0 picks
    a free port; read it from `server.server_address`). Raise OSError when the port is taken."""
    handler = type(
        "BoundSiteHandler", (SiteHandler,), {"report": staticmethod(report or (lambda line: None))}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(site_dir)))
    server.daemon_threads = True
    return server
