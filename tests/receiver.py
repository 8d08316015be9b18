"""A real HTTP receiver on 127.0.0.1 that records every request (webhooks, pings)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server answering every request with `status` and recording it."""

    def __init__(self, port: int = 0) -> None:
        self.status = 200
        self.received: list[Received] = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = Received(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with receiver._lock:
                    receiver.received.append(record)
                    receiver._lock.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = do_HEAD = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until at least `count` requests arrived; return them all."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def settle(self, quiet: float = 0.3) -> list[Received]:
        """Wait until nothing arrived for `quiet` seconds; return everything received."""
        seen = -1
        while True:
            with self._lock:
                if len(self.received) == seen:
                    return list(self.received)
                seen = len(self.received)
            time.sleep(quiet)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(timeout=5)
