"""Reading a published status.json: files, stdin, and a real HTTP server on 127.0.0.1 (redirects,
basic auth, sizes, slow answers), with a URL's credentials never shown."""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backupplan.monitor.source import StatusUnreadable, read_status, shown_source
from tests.monitor.documents import document

BODY = json.dumps(document()).encode()
PASSWORD = "s3cr3t-Pa55"


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on a slow answer closed the connection: expected here


class StatusServer:
    """Serves a few routes, records each request's path and headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = ROUTES.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.http = QuietServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )


def _send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, length: int | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)


def _redirect(to: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", to)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def _authenticated(handler: BaseHTTPRequestHandler) -> None:
    expected = "Basic " + base64.b64encode(f"monitor:{PASSWORD}".encode()).decode()
    if handler.headers.get("Authorization") != expected:
        _send(handler, b'{"error": "who are you?"}', 401)
    elif handler.path.startswith("/private/then-elsewhere"):
        _redirect("/status.json")(handler)
    else:
        _send(handler, BODY)


def _unbounded(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.end_headers()  # no Content-Length: the body ends when the connection closes
    for _ in range(40):
        handler.wfile.write(b" " * (1024 * 1024))


def _trickle(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.end_headers()
    for _ in range(50):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.05)


def _silent(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(2)
    _send(handler, BODY)


ROUTES: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {
    "/status.json": lambda handler: _send(handler, BODY),
    "/not-json": lambda handler: _send(handler, b"<html>Welcome to nginx</html>"),
    "/big": lambda handler: _send(handler, b" " * 100, length=64 * 1024 * 1024),
    "/unbounded": _unbounded,
    "/trickle": _trickle,
    "/silent": _silent,
    "/moved": _redirect("/status.json"),
    "/to-file": _redirect("file:///etc/passwd"),
    "/to-ftp": _redirect("ftp://127.0.0.1/status.json"),
    "/private/status.json": _authenticated,
    "/private/then-elsewhere": _authenticated,
}


@pytest.fixture
def server() -> Iterator[StatusServer]:
    running = StatusServer()
    running.thread.start()
    try:
        yield running
    finally:
        running.http.shutdown()
        running.http.server_close()
        running.thread.join(timeout=5)


def unreadable(source: str, **options: float) -> str:
    with pytest.raises(StatusUnreadable) as raised:
        read_status(
            source, timeout=options.get("timeout", 5), limit=int(options.get("limit", 16 * 1024 * 1024))
        )
    return str(raised.value)


def test_a_file(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_bytes(BODY)
    assert read_status(str(path), timeout=5) == document()


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.json"
    assert unreadable(str(missing)) == f"cannot read {missing}: No such file or directory"
    assert unreadable(str(tmp_path)) == f"cannot read {tmp_path}: Is a directory"
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1,')
    assert unreadable(str(bad)).startswith(f"{bad} is not JSON: ")
    bad.write_bytes(b'{"host": "\xff"}')
    assert unreadable(str(bad)).startswith(f"{bad} is not JSON: ")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2 * 1024 * 1024)
    assert unreadable(str(big), limit=1024 * 1024) == f"{big} is bigger than 1 MiB"
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert unreadable(str(deep)).startswith(f"{deep} is not JSON: ")


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BODY)))
    assert read_status("-", timeout=5) == document()


def test_a_url(server: StatusServer) -> None:
    assert read_status(server.base + "/status.json", timeout=5) == document()
    path, headers = server.requests[-1]
    assert (path, headers["accept"], headers["user-agent"]) == (
        "/status.json",
        "application/json",
        "backupplan-check",
    )


def test_a_redirect_to_http_is_followed(server: StatusServer) -> None:
    assert read_status(server.base + "/moved", timeout=5) == document()


@pytest.mark.parametrize(
    ("route", "target"), [("/to-file", "file:///etc/passwd"), ("/to-ftp", "ftp://127.0.0.1/status.json")]
)
def test_a_redirect_elsewhere_is_refused(server: StatusServer, route: str, target: str) -> None:
    assert unreadable(server.base + route) == (
        f"{server.base}{route} redirects to {target}: only http(s) redirects are followed"
    )


def test_basic_auth_from_the_url_is_sent_to_that_host_only(server: StatusServer) -> None:
    secret_url = server.base.replace("http://", f"http://monitor:{PASSWORD}@")
    assert read_status(secret_url + "/private/status.json", timeout=5) == document()
    assert read_status(secret_url + "/private/then-elsewhere", timeout=5) == document()
    (first, _), (redirected, headers) = server.requests[-2:]
    assert (first, redirected) == ("/private/then-elsewhere", "/status.json")
    assert "authorization" not in headers


def test_credentials_are_never_shown(server: StatusServer) -> None:
    secret_url = server.base.replace("http://", f"http://monitor:{PASSWORD}@")
    message = unreadable(secret_url + "/nothing-here?token=abc123456")
    assert (
        message
        == f"{server.base.replace('http://', 'http://***@')}/nothing-here?token=*** answered HTTP 404 Not Found"
    )
    wrong = server.base.replace("http://", "http://monitor:wrong-password@")
    assert PASSWORD not in unreadable(wrong + "/private/status.json")
    assert "wrong-password" not in unreadable(wrong + "/private/status.json")
    assert shown_source(f"https://{PASSWORD}@example.org/s.json") == "https://***@example.org/s.json"
    assert shown_source("/srv/site/status.json") == "/srv/site/status.json"


def test_answers_that_are_not_a_status(server: StatusServer) -> None:
    assert unreadable(server.base + "/not-json").startswith(f"{server.base}/not-json is not JSON: ")
    assert unreadable(server.base + "/big") == f"{server.base}/big is bigger than 16 MiB"
    assert unreadable(server.base + "/unbounded") == f"{server.base}/unbounded is bigger than 16 MiB"


def test_slow_servers_are_given_up_on(server: StatusServer) -> None:
    started = time.monotonic()
    assert (
        unreadable(server.base + "/silent", timeout=0.3)
        == f"{server.base}/silent did not answer within 0.3 s"
    )
    assert unreadable(server.base + "/trickle", timeout=0.5) == f"{server.base}/trickle took too long to read"
    assert time.monotonic() - started < 2.5


def test_urls_that_cannot_be_read() -> None:
    from tests.servers import free_port

    port = free_port()
    assert unreadable(f"http://127.0.0.1:{port}/status.json") == (
        f"cannot reach http://127.0.0.1:{port}/status.json: Connection refused"
    )
    assert (
        unreadable("file:///etc/passwd")
        == "file:///etc/passwd: only http:// and https:// URLs (or a file path) can be read"
    )
    assert unreadable("http://127.0.0.1:port/status.json") == "http://127.0.0.1:port/status.json is not a URL"
    assert unreadable("http:///status.json") == (
        "http:///status.json: only http:// and https:// URLs (or a file path) can be read"
    )
