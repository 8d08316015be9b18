"""network_check: probes of host:port and URLs against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from backupplan.plan.locations import target_problem
from backupplan.plan.model import Job, NetworkCheck
from backupplan.scheduler.clock import SystemClock
from backupplan.scheduler.network import NetworkGate, needs_network, probe, wait_for_network


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def http_500() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("nas.local:873", None),
        ("[::1]:22", None),
        ("https://s3.example.com", None),
        ("nas.local", "'nas.local' is neither host:port nor an http(s) URL"),
        ("nas:99999", "'nas:99999' is neither host:port nor an http(s) URL"),
        ("ftp://nas", "'ftp://nas' is neither host:port nor an http(s) URL"),
    ],
)
def test_targets(target: str, problem: str | None) -> None:
    assert target_problem(target) == problem


def test_a_bad_target_is_a_plan_error() -> None:
    with pytest.raises(ValueError, match="neither host:port nor an http"):
        NetworkCheck(target="nas.local")


def test_probes(listener: int, http_500: str) -> None:
    assert asyncio.run(probe(f"127.0.0.1:{listener}", 1.0)) is None
    assert asyncio.run(probe(http_500, 1.0)) is None  # an error status is still an answer
    assert asyncio.run(probe(f"127.0.0.1:{closed_port()}", 1.0)) == "Connection refused"
    assert asyncio.run(probe(f"http://127.0.0.1:{closed_port()}/", 1.0)) == "Connection refused"


def test_waiting_gives_up_after_the_timeout() -> None:
    port = closed_port()
    check = NetworkCheck(target=f"127.0.0.1:{port}", interval="100ms", timeout="500ms")  # type: ignore[arg-type]
    started = time.monotonic()
    problem = asyncio.run(wait_for_network(check, SystemClock()))
    assert 0.5 <= time.monotonic() - started < 2.0
    assert problem is not None and problem.startswith(
        f"127.0.0.1:{port} did not answer for 0.5s (network_check): "
    )


def test_waiting_ends_when_a_listener_appears() -> None:
    port = closed_port()
    check = NetworkCheck(target=f"127.0.0.1:{port}", interval="100ms", timeout="10s")  # type: ignore[arg-type]
    sock = socket.socket()

    def appear() -> None:
        time.sleep(0.4)
        sock.bind(("127.0.0.1", port))
        sock.listen()

    thread = threading.Thread(target=appear)
    thread.start()
    try:
        started = time.monotonic()
        assert asyncio.run(wait_for_network(check, SystemClock())) is None
        assert time.monotonic() - started < 3.0
    finally:
        thread.join()
        sock.close()


def test_the_gate_shares_one_answer() -> None:
    port = closed_port()
    check = NetworkCheck(target=f"127.0.0.1:{port}", interval="200ms", timeout="300ms")  # type: ignore[arg-type]
    gate = NetworkGate(SystemClock())

    async def both() -> list[str | None]:
        return list(await asyncio.gather(gate.wait(check), gate.wait(check)))

    started = time.monotonic()
    first, second = asyncio.run(both())
    assert first is not None and first == second
    assert time.monotonic() - started < 0.3 * 2  # the second did not wait all over again


def test_which_jobs_need_the_network(tmp_path: Path) -> None:
    def job(source: str, destination: str, engine: str = "rsync") -> Job:
        return Job(engine=engine, source=source, destination=destination)  # type: ignore[arg-type]

    assert not needs_network(job("/data", "/mnt/backup"), tmp_path)
    assert needs_network(job("/data", "nas:/backup"), tmp_path)
    assert needs_network(job("/data", "rsync://nas/backup/x"), tmp_path)
    assert needs_network(job("/data", "s3:bucket/x", "rclone"), tmp_path)
    assert not needs_network(job("./data", "../backup", "rclone"), tmp_path)
