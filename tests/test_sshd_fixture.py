"""The sshd fixture against the real ssh client and real rsync: logins, copies and every failure mode
(host down, key refused, host key changed, connection killed mid-transfer, server hung)."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sshd import Sshd, log_tail, process_table, require_openssh

pytestmark = pytest.mark.slow


@pytest.fixture
def server(sshd: Sshd, tmp_path: Path) -> Iterator[Sshd]:
    """The `sshd` fixture, checked afterwards: stopping it leaves no process of it, nor any process
    working in this test's folder (a server-side rsync, say)."""
    yield sshd
    sshd.stop()
    assert sshd.processes() == []
    leftovers = [
        process
        for process in process_table().values()
        if (str(tmp_path) in process.command or str(sshd.root) in process.command)
        and process.state not in {"Z", "X", "x"}
        and process.pid != os.getpid()
    ]
    assert leftovers == []


def ssh(server: Sshd, *command: str, connect_timeout: int = 5) -> subprocess.CompletedProcess[str]:
    """Given a server and a remote command, run it through the real ssh client and return the result."""
    return subprocess.run(
        [*server.ssh_command(connect_timeout=connect_timeout), server.destination, *command],
        check=False,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


def make_tree(root: Path) -> None:
    """Given a folder, fill it with nested files of various sizes, a symlink and an empty folder."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "top.txt").write_text("top\n")
    (root / "a" / "middle.bin").write_bytes(os.urandom(100_000))
    (root / "a" / "b" / "deep.txt").write_text("deep\n" * 1000)
    (root / "a" / "b" / "script.sh").write_text("#!/bin/sh\n")
    (root / "a" / "b" / "script.sh").chmod(0o755)
    (root / "link").symlink_to("a/b/deep.txt")


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Given a folder, return each entry below it by relative path: (kind, mode, content or target)."""
    found: dict[str, tuple[str, int, bytes]] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        mode = path.lstat().st_mode & 0o7777
        if path.is_symlink():
            found[name] = ("link", 0, os.readlink(path).encode())
        elif path.is_dir():
            found[name] = ("dir", mode, b"")
        else:
            found[name] = ("file", mode, path.read_bytes())
    return found


def test_ssh_runs_a_command_in_batch_mode(server: Sshd) -> None:
    assert server.banner is not None and server.banner.startswith("SSH-2.0-OpenSSH_")
    done = ssh(server, "true")
    assert done.returncode == 0, done.stderr + log_tail(server)
    done = ssh(server, "id", "-un")
    assert (done.returncode, done.stdout) == (0, f"{server.user}\n")
    assert f"[127.0.0.1]:{server.port} ssh-ed25519 " in server.known_hosts.read_text()


def test_rsync_copies_a_folder_over_ssh(server: Sshd, tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    make_tree(source)
    done = subprocess.run(
        ["rsync", "-a", "-e", server.rsh(), f"{source}/", f"{server.destination}:{target}/"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr + log_tail(server)
    assert snapshot(target) == snapshot(source)


def test_a_new_host_key_fails_verification(server: Sshd) -> None:
    old_port = server.port
    server.regenerate_host_key()
    assert server.port == old_port
    done = ssh(server, "true")
    assert done.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in done.stderr
    assert "Host key verification failed." in done.stderr
    server.trust_host_key()
    assert ssh(server, "true").returncode == 0


def test_a_refused_key_is_permission_denied(server: Sshd) -> None:
    server.refuse_key()
    done = ssh(server, "true")
    assert done.returncode == 255
    assert "Permission denied (publickey)" in done.stderr
    server.accept_key()
    assert ssh(server, "true").returncode == 0


def test_a_stopped_server_refuses_connections(server: Sshd) -> None:
    port = server.port
    server.stop()
    assert server.processes() == []
    done = ssh(server, "true")
    assert done.returncode == 255
    assert "Connection refused" in done.stderr
    server.start()
    assert server.port == port
    assert ssh(server, "true").returncode == 0


def test_kill_breaks_a_live_session_and_restart_serves_again(server: Sshd) -> None:
    session = subprocess.Popen(
        [*server.ssh_command(), server.destination, "sleep 31.25"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not any(p.command == "sleep 31.25" for p in server.processes()):
            assert time.monotonic() < deadline, "the remote command never started"
            time.sleep(0.05)
        server.kill()
        _, err = session.communicate(timeout=10)
    finally:
        session.kill()
        session.wait()
    assert session.returncode == 255
    assert any(text in err for text in ("closed by remote host", "reset by peer", "Broken pipe")), err
    assert not any(p.command == "sleep 31.25" for p in process_table().values())
    server.restart()
    assert ssh(server, "true").returncode == 0


def test_kill_sessions_breaks_a_running_rsync_but_not_the_listener(server: Sshd, tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    target.mkdir()
    with (source / "big.bin").open("wb") as big:
        for _ in range(64):
            big.write(os.urandom(1 << 20))
    rsync = subprocess.Popen(
        [
            "rsync",
            "-a",
            "--bwlimit=4096",
            "-e",
            server.rsh(),
            f"{source}/",
            f"{server.destination}:{target}/",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait until data flows: the server-side rsync runs and its temporary file has grown.
        deadline = time.monotonic() + 15
        while not (
            any(path.stat().st_size > 0 for path in target.iterdir() if path.is_file())
            and any(process.command.startswith("rsync --server") for process in server.processes())
        ):
            assert rsync.poll() is None, rsync.communicate()
            assert time.monotonic() < deadline, "no data arrived"
            time.sleep(0.05)
        killed = server.kill_sessions()
        _, err = rsync.communicate(timeout=15)
    finally:
        rsync.kill()
        rsync.wait()
    assert any("rsync" in process.command for process in killed), killed
    # 255 mostly (ssh's own status); 10 (socket IO) or 12 (protocol stream) when rsync notices first.
    assert rsync.returncode in {10, 12, 255}, (rsync.returncode, err)
    # ssh says "closed by remote host" or, when it wrote first, "client_loop: send disconnect: Broken pipe".
    assert any(
        text in err
        for text in (
            "closed by remote host",
            "Broken pipe",
            "connection unexpectedly closed",
            "reset by peer",
        )
    ), err
    assert not (target / "big.bin").exists()
    # Only the listener is left, and it still accepts logins.
    assert server.process is not None
    assert [process.pid for process in server.processes()] == [server.process.pid]
    assert ssh(server, "true").returncode == 0


def test_a_paused_server_times_out_in_the_banner_exchange(server: Sshd) -> None:
    server.pause()
    started = time.monotonic()
    done = ssh(server, "true", connect_timeout=2)
    elapsed = time.monotonic() - started
    assert done.returncode == 255
    assert "Connection timed out during banner exchange" in done.stderr
    assert 1.5 < elapsed < 10
    server.resume()
    assert ssh(server, "true").returncode == 0


def fingerprint(folder: Path) -> dict[str, bytes]:
    """Given a folder, return the content of every file below it (nothing when it does not exist)."""
    if not folder.exists():
        return {}
    return {str(path): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_the_fixture_leaves_the_machines_ssh_setup_alone(tmp_path_factory: pytest.TempPathFactory) -> None:
    require_openssh()
    home_ssh = Path(pwd.getpwuid(os.geteuid()).pw_dir) / ".ssh"
    before = fingerprint(Path("/etc/ssh")), fingerprint(home_ssh), home_ssh.exists()
    server = Sshd(tmp_path_factory.mktemp("own-sshd"))
    server.start()
    try:
        config = server.config.read_text()
        assert f"ListenAddress 127.0.0.1\nPort {server.port}\n" in config
        assert "/etc/ssh" not in config
        assert server.ssh_command()[:3] == ["ssh", "-F", "/dev/null"]
        assert ssh(server, "true").returncode == 0
    finally:
        server.stop()
    assert server.processes() == []
    assert (fingerprint(Path("/etc/ssh")), fingerprint(home_ssh), home_ssh.exists()) == before
