"""Remote probes against real servers on 127.0.0.1: an rsync daemon, an S3 server (moto) through
rclone, and TCP peers that greet like an ssh server, refuse, or accept and then say nothing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backupplan.doctor import Context
from backupplan.doctor.locations import location_checks
from backupplan.doctor.model import Check
from backupplan.doctor.probes import daemon_probe, run_probes, ssh_address, ssh_probe
from backupplan.plan.load import load_plan
from backupplan.plan.locations import parse_location
from backupplan.process.execute import run_short
from tests.journal.helpers import FROZEN
from tests.servers import MotoS3, RsyncDaemon, free_port


class Peer:
    """A TCP server on 127.0.0.1 that sends `greeting` to each connection (or nothing), then waits."""

    def __init__(self, greeting: bytes) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.greeting = greeting
        self.connections: list[socket.socket] = []
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.05)  # a blocked accept() would not notice close()
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(connection)
            if self.greeting:
                connection.sendall(self.greeting)

    def close(self) -> None:
        self.closed.set()
        self._thread.join(timeout=5)
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


def ssh_location(host: str = "nas.example") -> object:
    return parse_location(f"{host}:/backups", "rsync", Path("/"))


@pytest.mark.slow
def test_an_ssh_server_is_known_by_its_greeting(peers: list[Peer]) -> None:
    peers.append(Peer(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
    port = peers[0].port
    check = ssh_probe("nas.destination", ssh_location(), 2.0, address=lambda host: ("127.0.0.1", port))  # type: ignore[arg-type]
    assert check.status == "ok"
    assert check.message == (
        f"nas: destination nas.example:/backups: the ssh server at 127.0.0.1:{port} answered "
        "(SSH-2.0-OpenSSH_9.2p1 Debian-2); login not tried"
    )


@pytest.mark.slow
def test_a_silent_peer_and_a_refused_port(peers: list[Peer]) -> None:
    peers.append(Peer(b""))
    silent = peers[0].port
    started = time.monotonic()
    quiet = ssh_probe("nas.source", ssh_location(), 0.5, address=lambda host: ("127.0.0.1", silent))  # type: ignore[arg-type]
    assert time.monotonic() - started < 2
    assert quiet.status == "warn"
    assert quiet.message.endswith(f"127.0.0.1:{silent} accepts connections but sent no ssh greeting")
    closed = free_port()
    refused = ssh_probe("nas.source", ssh_location(), 0.5, address=lambda host: ("127.0.0.1", closed))  # type: ignore[arg-type]
    assert refused.status == "fail"
    assert refused.message.endswith(f"cannot connect to 127.0.0.1:{closed}: Connection refused")
    assert refused.hint == "is the host up and its ssh server running?"


def test_ssh_address_asks_ssh_for_the_host_and_port() -> None:
    assert ssh_address("nas.example") == ("nas.example", 22)
    printed = run_short(["ssh", "-G", "nas.example"]).stdout.decode()
    assert "hostname nas.example\n" in printed and "port 22\n" in printed


@pytest.mark.slow
def test_an_rsync_daemon_answers_with_its_protocol(rsync_daemon: RsyncDaemon) -> None:
    location = parse_location(rsync_daemon.url("photos"), "rsync", Path("/"))
    check = daemon_probe("photos.destination", location, 2.0)
    assert check.status == "ok", check.message
    assert check.message == (
        f"photos: destination {rsync_daemon.url('photos')}: the rsync daemon at "
        f"127.0.0.1:{rsync_daemon.port} answered (protocol {check.facts['protocol']})"
    )
    assert str(check.facts["protocol"]).startswith("3")
    rsync_daemon.kill()
    down = daemon_probe("photos.destination", location, 2.0)
    assert down.status == "fail"
    assert down.message.endswith(f"cannot connect to 127.0.0.1:{rsync_daemon.port}: Connection refused")


@pytest.mark.slow
def test_a_peer_that_is_not_an_rsync_daemon(peers: list[Peer]) -> None:
    peers.append(Peer(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    location = parse_location(f"rsync://127.0.0.1:{peers[0].port}/backup/x", "rsync", Path("/"))
    check = daemon_probe("x.destination", location, 1.0)
    assert check.status == "fail"
    assert check.message.endswith(f"127.0.0.1:{peers[0].port} answers, but not as an rsync daemon")


@pytest.mark.slow
def test_probes_run_at_the_same_time_and_are_bounded(peers: list[Peer]) -> None:
    for _ in range(4):
        peers.append(Peer(b""))  # each one keeps a probe waiting for its whole timeout
    probes = {
        f"job{index}.destination": (
            lambda port=peer.port: daemon_probe(
                "x.destination", parse_location(f"rsync://127.0.0.1:{port}/m", "rsync", Path("/")), 1.0
            )
        )
        for index, peer in enumerate(peers)
    }
    stuck = threading.Event()
    probes["stuck.source"] = lambda: (stuck.wait(30), Check("locations", "stuck.source", "ok", "never"))[1]
    started = time.monotonic()
    results = run_probes(probes, 1.0)
    elapsed = time.monotonic() - started
    stuck.set()
    assert elapsed < 3.0  # four 1 s probes at once, and one that never ends, cut at 1 s + 1 s
    assert [results[name].status for name in sorted(results)][:4] == ["fail"] * 4
    assert results["stuck.source"].message == "stuck: source did not answer within 1 s"
    assert results["stuck.source"].status == "fail"


@pytest.mark.slow
def test_rclone_remotes_are_listed_with_the_jobs_credentials(tmp_path: Path, moto_s3: MotoS3) -> None:
    env = moto_s3.env()
    assert (
        run_short(["rclone", "--config=", "mkdir", "moto:backups"], env={**_clean_env(), **env}).exit_code
        == 0
    )
    settings = "\n".join(f"      {key}: ${{{key}}}" for key in env)
    jobs = {"up": ("src", "moto:backups/photos"), "down": ("moto:nobucket/x", "out")}
    (tmp_path / "backups.yaml").write_text(
        "version: 1\nsettings: {timezone: UTC}\njobs:\n"
        + "".join(
            f"  {job}:\n    engine: rclone\n    source: {source}\n    destination: {destination}\n"
            f"    env:\n{settings}\n"
            for job, (source, destination) in jobs.items()
        )
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_text("a")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        loaded = load_plan(tmp_path / "backups.yaml")
    context = Context(now=FROZEN, probe_timeout=3.0)
    checks = {check.name: check for check in location_checks(loaded, context)}
    assert checks["up.destination"].status == "ok"
    assert (
        checks["up.destination"].message
        == "up: destination moto:backups/photos: the remote answered and lists it"
    )
    assert checks["down.source"].status == "fail"
    assert (
        checks["down.source"].message
        == "down: source moto:nobucket/x: error in ListJSON: directory not found"
    )
    assert "test-secret" not in repr(checks)
    moto_s3.kill()
    started = time.monotonic()
    gone = {check.name: check for check in location_checks(loaded, context)}
    assert time.monotonic() - started < 5
    assert gone["up.destination"].status == "fail"
    assert gone["up.destination"].message.endswith("connect: connection refused")


def _clean_env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}


@pytest.mark.slow
def test_many_jobs_on_one_host_make_one_connection(peers: list[Peer], tmp_path: Path) -> None:
    peers.append(Peer(b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"))
    port = peers[0].port
    jobs = "".join(
        f"  job{index}: {{engine: rsync, source: src, destination: 'rsync://127.0.0.1:{port}/backup/{index}'}}\n"
        for index in range(40)
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_text("a")
    (tmp_path / "backups.yaml").write_text(f"version: 1\njobs:\n{jobs}")
    checks = location_checks(load_plan(tmp_path / "backups.yaml"), Context(now=FROZEN, probe_timeout=2.0))
    destinations = [check for check in checks if check.name.endswith(".destination")]
    assert len(destinations) == 40
    assert {check.status for check in destinations} == {"ok"}
    assert destinations[7].message == (
        f"job15: destination rsync://127.0.0.1:{port}/backup/15: the rsync daemon at 127.0.0.1:{port} "
        "answered (protocol 32.0)"
    )  # sorted by job id: job0, job1, job10, …
    assert len(peers[0].connections) == 1


def test_probes_run_a_few_at_a_time() -> None:
    running = []
    highest = [0]
    lock = threading.Lock()

    def probe(name: str) -> Check:
        with lock:
            running.append(name)
            highest[0] = max(highest[0], len(running))
        time.sleep(0.05)
        with lock:
            running.remove(name)
        return Check("locations", name, "ok", "fine")

    probes = {f"j{index}.source": (lambda name=f"j{index}.source": probe(name)) for index in range(12)}
    results = run_probes(probes, 1.0, workers=3)
    assert highest[0] == 3
    assert sorted(results) == sorted(probes)
    assert {check.message for check in results.values()} == {"fine"}
