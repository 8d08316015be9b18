from __future__ import annotations

import base64
from pathlib import Path

import pytest

from backupplan import __version__
from backupplan.notify.ping import PingError, PingRequest, build_ping, flavour, read_tail, send_ping, tail
from backupplan.secrets import registry

from .conftest import Receiver

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def test_flavours() -> None:
    assert flavour("https://hc-ping.com/0f1e2d3c") == "healthchecks"
    assert flavour("https://hc.example.com/ping/key/photos-backup") == "healthchecks"
    assert flavour("https://kuma.example.com/api/push/AbC123?status=up&msg=OK&ping=") == "uptime_kuma"
    assert flavour("https://cronitor.link/p/KEY/photos") == "cronitor"


def test_healthchecks_requests() -> None:
    url = "https://hc-ping.com/0f1e2d3c/"
    assert build_ping(url, "start", body="go") == PingRequest(
        "POST", "https://hc-ping.com/0f1e2d3c/start", b"go", TEXT
    )
    assert build_ping(url, "success") == PingRequest("POST", "https://hc-ping.com/0f1e2d3c", b"", TEXT)
    assert build_ping(url, "fail", body="é") == PingRequest(
        "POST", "https://hc-ping.com/0f1e2d3c/fail", "é".encode(), TEXT
    )
    assert build_ping("https://hc.example.com/p/k/s?create=1", "log") == PingRequest(
        "POST", "https://hc.example.com/p/k/s/log?create=1", b"", TEXT
    )


def test_uptime_kuma_requests() -> None:
    url = "https://kuma.example.com/api/push/AbC123?status=up&msg=OK&ping="
    assert build_ping(url, "start") is None
    assert build_ping(url, "log") is None
    assert build_ping(url, "success", body="log text", summary="succeeded in 41s") == PingRequest(
        "GET", "https://kuma.example.com/api/push/AbC123?status=up&msg=succeeded+in+41s"
    )
    assert build_ping(url, "fail", summary="exit 23: partial") == PingRequest(
        "GET", "https://kuma.example.com/api/push/AbC123?status=down&msg=exit+23%3A+partial"
    )


def test_cronitor_requests() -> None:
    url = "https://cronitor.link/p/KEY/photos?env=prod"
    assert build_ping(url, "start") == PingRequest(
        "GET", "https://cronitor.link/p/KEY/photos?env=prod&state=run"
    )
    assert build_ping(url, "success", summary="ok") == PingRequest(
        "GET", "https://cronitor.link/p/KEY/photos?env=prod&state=complete&message=ok"
    )
    assert build_ping(url, "fail") == PingRequest(
        "GET", "https://cronitor.link/p/KEY/photos?env=prod&state=fail"
    )
    assert build_ping(url, "log") is None
    assert build_ping("https://cronitor.link/d3x0c1", "fail") == PingRequest(
        "GET", "https://cronitor.link/d3x0c1/fail"
    )


def test_healthchecks_ping_reaches_the_receiver(receiver: Receiver) -> None:
    request = build_ping(f"http://{receiver.url}/ping/0f1e2d3c", "fail", body="rsync error: exit 23\n")
    assert request is not None
    send_ping(request)
    (received,) = receiver.received
    assert (received.method, received.path, received.body) == (
        "POST",
        "/ping/0f1e2d3c/fail",
        b"rsync error: exit 23\n",
    )
    assert received.headers["content-type"] == "text/plain; charset=utf-8"
    assert received.headers["user-agent"] == f"backupplan/{__version__}"


def test_uptime_kuma_ping_reaches_the_receiver(receiver: Receiver) -> None:
    request = build_ping(
        f"http://{receiver.url}/api/push/AbC123?status=up&msg=OK&ping=", "fail", summary="timed out"
    )
    assert request is not None
    send_ping(request)
    (received,) = receiver.received
    assert (received.method, received.route, received.query) == (
        "GET",
        "/api/push/AbC123",
        {"status": "down", "msg": "timed out"},
    )


def test_url_credentials_become_basic_auth(receiver: Receiver) -> None:
    send_ping(PingRequest("POST", f"http://bk:pa%40ss@{receiver.url}/ping/x", b""))
    (received,) = receiver.received
    assert received.path == "/ping/x"
    assert received.headers["authorization"] == "Basic " + base64.b64encode(b"bk:pa@ss").decode()


def test_errors_are_masked(receiver: Receiver, closed_port: int) -> None:
    registry.add("0f1e2d3c-canary", "HC_UUID")
    receiver.status = 500
    with pytest.raises(PingError) as raised:
        send_ping(PingRequest("POST", f"http://{receiver.url}/0f1e2d3c-canary/fail"))
    assert (
        str(raised.value)
        == f"http://{receiver.url}/${{HC_UUID}}/fail answered HTTP 500 Internal Server Error"
    )
    with pytest.raises(PingError) as raised:
        send_ping(PingRequest("POST", f"http://127.0.0.1:{closed_port}/0f1e2d3c-canary"))
    assert str(raised.value) == f"http://127.0.0.1:{closed_port}/${{HC_UUID}}: [Errno 111] Connection refused"
    with pytest.raises(PingError, match="only http and https"):
        send_ping(PingRequest("GET", "file:///etc/passwd"))


def test_tail_keeps_the_last_bytes_from_a_line_start() -> None:
    registry.add("tail-canary-123", "SECRET")
    text = "".join(f"line {number:04d} tail-canary-123\n" for number in range(1000))
    cut = tail(text, limit=100)
    assert cut.splitlines()[0].startswith("line 09")
    assert cut.endswith("line 0999 ${SECRET}\n")
    assert len(cut.encode()) <= 100
    assert "canary" not in cut
    assert tail("short tail-canary-123") == "short ${SECRET}"


def test_read_tail(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("".join(f"{number}\n" for number in range(10000)))
    assert read_tail(log, limit=20) == "9996\n9997\n9998\n9999\n"
    assert read_tail(tmp_path / "missing.log") == ""
