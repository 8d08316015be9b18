"""Real servers on 127.0.0.1 for tests: an rsync daemon and an S3 server (moto).

Each server runs in its own process group, so `kill()` stops it together with the per-connection
children an rsync daemon forks, and `pause()` (SIGSTOP) makes a hung peer. Fixtures stop
everything they started, by process group, even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backupplan.process.procfs import group_members


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Wait until something accepts connections on `port`; fail fast when `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class Server:
    """A server process in its own process group, restartable on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=self.environment(),
        )
        wait_port(self.port, self.process)

    def _signal(self, number: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, number)

    def kill(self) -> None:
        """Stop the whole server at once (SIGKILL to its group): connections break mid-transfer."""
        if self.process is None:
            return
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._wait_group_gone(self.process.pid)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP every process of the server: it keeps its sockets open but never answers."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    @staticmethod
    def _wait_group_gone(pgid: int) -> None:
        # Zombies do not count: whoever adopted them reaps them in its own time.
        deadline = time.monotonic() + 5
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)


class RsyncDaemon(Server):
    """`rsync --daemon` serving module `backup` from `root/module`, optionally with a password."""

    def __init__(self, root: Path, *, user: str | None = None, password: str | None = None) -> None:
        super().__init__(free_port())
        self.root = root
        self.module = root / "module"
        self.module.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.config = root / "rsyncd.conf"
        lines = [
            "use chroot = false",
            f"pid file = {root}/rsyncd.pid",
            "[backup]",
            f"    path = {self.module}",
            "    read only = false",
        ]
        if os.geteuid() == 0:  # otherwise the daemon drops to nobody and cannot write here
            lines[1:1] = ["uid = root", "gid = root"]
        if user is not None and password is not None:
            secrets = root / "rsyncd.secrets"
            secrets.write_text(f"{user}:{password}\n")
            secrets.chmod(0o600)
            lines += [f"    auth users = {user}", f"    secrets file = {secrets}"]
        self.config.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [
            "rsync",
            "--daemon",
            "--no-detach",
            f"--config={self.config}",
            f"--port={self.port}",
            "--address=127.0.0.1",
            f"--log-file={self.root}/rsyncd.log",
        ]

    def url(self, path: str = "") -> str:
        """Return `rsync://[user@]127.0.0.1:PORT/backup/path`."""
        user = f"{self.user}@" if self.user else ""
        return f"rsync://{user}127.0.0.1:{self.port}/backup/{path}"


class MotoS3(Server):
    """An S3-compatible server (moto) with its data in memory; `env()` defines rclone remote MOTO."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, access_key: str = "test-access", secret: str = "test-secret") -> dict[str, str]:
        """Return the environment that defines rclone remote `moto:` for this server."""
        return {
            "RCLONE_CONFIG_MOTO_TYPE": "s3",
            "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
            "RCLONE_CONFIG_MOTO_ENDPOINT": self.endpoint,
            "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": access_key,
            "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": secret,
        }


class WebDav(Server):
    """`rclone serve webdav` on 127.0.0.1 (a real WebDAV server), serving `root`, with a user and
    password; `env(name)` defines the rclone remote NAME: for it (the password obscured, as rclone
    wants it in its config)."""

    def __init__(self, root: Path, *, user: str = "backup", password: str = "dav-secret") -> None:
        super().__init__(free_port())
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.user, self.password = user, password

    def command(self) -> list[str]:
        return ["rclone", "serve", "webdav", "--addr", f"127.0.0.1:{self.port}", "--user", self.user,
                "--pass", self.password, str(self.root)]  # fmt: skip

    def environment(self) -> dict[str, str]:
        return {key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}

    def env(self, name: str = "DAV") -> dict[str, str]:
        obscured = subprocess.run(
            ["rclone", "obscure", self.password], capture_output=True, text=True, check=True
        ).stdout.strip()
        return {
            f"RCLONE_CONFIG_{name}_TYPE": "webdav",
            f"RCLONE_CONFIG_{name}_URL": f"http://127.0.0.1:{self.port}",
            f"RCLONE_CONFIG_{name}_VENDOR": "other",
            f"RCLONE_CONFIG_{name}_USER": self.user,
            f"RCLONE_CONFIG_{name}_PASS": obscured,
        }


@pytest.fixture
def webdav(tmp_path: Path) -> Iterator[WebDav]:
    """A running WebDAV server (rclone serve webdav) on 127.0.0.1 serving `webdav.root`."""
    server = WebDav(tmp_path / "webdav")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def rsync_daemon(tmp_path: Path) -> Iterator[RsyncDaemon]:
    """A running rsync daemon on 127.0.0.1; module `backup` lives in `daemon.module`."""
    daemon = RsyncDaemon(tmp_path / "rsyncd")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.kill()


@pytest.fixture
def moto_s3() -> Iterator[MotoS3]:
    """A running S3 server (moto) on 127.0.0.1, for this test alone (it may stop or restart it)."""
    server = MotoS3(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()
