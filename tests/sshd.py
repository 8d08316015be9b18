"""A real OpenSSH server (Debian's openssh-server) on 127.0.0.1 for tests, self-contained in a folder.

`Sshd` generates its own host key and client key pair, writes its own sshd_config and runs
`/usr/sbin/sshd -D` on a free port: nothing of the machine's own ssh setup (/etc/ssh, ~/.ssh) is read
or written, except that /run/sshd (the standard privilege separation folder, which sshd requires when
it runs as root) is created when missing.

OpenSSH's listener forks one child per connection, and that child calls setsid(): the per-connection
processes (`sshd: root [priv]`, `[net]`, `root@notty`) and the commands they run are NOT in the
listener's process group. So every method that must reach them (`stop`, `kill`, `pause`,
`kill_sessions`) walks the parent chain in /proc from the listener down, freezing (SIGSTOP) what it
finds until the tree stops growing, and only then signals it: no connection slips through by being
forked during the walk. Every process ever seen that way is remembered (pid and start time), so
`processes()` still finds one that was reparented after its parent died.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.procs import Proc, descendants, process_table, read_proc, send, wait_gone, wait_stopped
from tests.servers import free_port

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
HOST = "127.0.0.1"
APT_PACKAGES = ("openssh-server", "openssh-client")


# ---------------------------------------------------------------------------------------------------
# Preconditions


def require_openssh() -> None:
    """Given this machine, return when sshd, ssh and ssh-keygen are installed. Otherwise skip the test
    when not root, and fail it loudly as root: CI runs as root and installs them, so a missing one
    there is a broken set-up, not a reason to skip."""
    missing = [str(SSHD)] if not SSHD.is_file() else []
    missing += [tool for tool in ("ssh", "ssh-keygen") if shutil.which(tool) is None]
    if not missing:
        return
    reason = (
        f"OpenSSH is missing ({', '.join(missing)}): install the Debian packages "
        f"{' '.join(APT_PACKAGES)} (apt-get install --no-install-recommends {' '.join(APT_PACKAGES)})"
    )
    if os.geteuid() == 0:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def read_banner(port: int, timeout: float = 1.0) -> str | None:
    """Given a port on 127.0.0.1, return the SSH identification line the server there sends first
    (`SSH-2.0-OpenSSH_…`), or None when nothing accepts, the peer closes, or it sends something else."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as connection:
            received = b""
            while b"\n" not in received and len(received) < 512:
                chunk = connection.recv(512)
                if not chunk:
                    return None
                received += chunk
    except OSError:
        return None
    line = received.split(b"\n", 1)[0].rstrip(b"\r").decode(errors="replace")
    return line if line.startswith("SSH-") else None


def keygen(path: Path, comment: str) -> None:
    """Given a path, write a new ed25519 key pair without passphrase there (`path` and `path.pub`),
    replacing any key already there."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pub").unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


# ---------------------------------------------------------------------------------------------------
# The server


class Sshd:
    """A real sshd on 127.0.0.1 with everything (keys, config, pid file, log) in `root`.

    `user` logs in with the private key `identity`, checking the server against `known_hosts`:
    `ssh_command()` and `rsh()` build the client command line that does that.
    """

    def __init__(self, root: Path | None = None, *, port: int | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sshd-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port() if port is None else port
        self._port_fixed = port is not None
        self.user = "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.host = HOST
        self.config = self.root / "sshd_config"
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.identity = self.root / "id_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self.pid_file = self.root / "sshd.pid"
        self.log = self.root / "sshd.log"
        self.stderr_log = self.root / "sshd.stderr"
        self.banner: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._pgids: set[int] = set()
        self._seen: dict[tuple[int, int], Proc] = {}
        self._known_hosts_written = False
        keygen(self.host_key, "backupplan-test-host")
        keygen(self.identity, "backupplan-test-client")
        self.accept_key()

    # -- the client side ------------------------------------------------------------------------

    @property
    def destination(self) -> str:
        """Given this server, return `user@127.0.0.1`, the destination for ssh and rsync."""
        return f"{self.user}@{self.host}"

    def ssh_command(self, *, connect_timeout: int = 5, options: Sequence[str] = ()) -> list[str]:
        """Given this server, return the ssh argv (without destination) that logs in non-interactively
        with `identity`, trusting only `known_hosts`, reading no ssh_config (`-F /dev/null`).

        `options` (`"Key=value"` strings) come first: ssh keeps the first value it reads for an
        option, so they override the defaults here."""
        argv = ["ssh", "-F", "/dev/null", "-p", str(self.port), "-i", str(self.identity)]
        for option in options:
            argv += ["-o", option]
        for option in (
            "BatchMode=yes",
            f"UserKnownHostsFile={self.known_hosts}",
            "GlobalKnownHostsFile=/dev/null",
            "StrictHostKeyChecking=yes",
            "UpdateHostKeys=no",
            "IdentitiesOnly=yes",
            f"ConnectTimeout={connect_timeout}",
        ):
            argv += ["-o", option]
        return argv

    def rsh(self, *, connect_timeout: int = 5, options: Sequence[str] = ()) -> str:
        """Given this server, return `ssh_command()` as one shell-quoted string, for `rsync -e`."""
        return shlex.join(self.ssh_command(connect_timeout=connect_timeout, options=options))

    # -- configuration --------------------------------------------------------------------------

    def accept_key(self) -> None:
        """Given this server, authorize the client key `identity` again (read at each login)."""
        public = self.identity.with_name(self.identity.name + ".pub").read_text()
        self.authorized_keys.write_text(public)
        self.authorized_keys.chmod(0o600)

    def refuse_key(self) -> None:
        """Given this server, empty authorized_keys: the next logins fail with
        `Permission denied (publickey)`; a running session is not affected."""
        self.authorized_keys.write_text("")

    def trust_host_key(self) -> None:
        """Given this server, (re)write `known_hosts` with its current host key for `[127.0.0.1]:PORT`."""
        key_type, key = self.host_key.with_name(self.host_key.name + ".pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {key_type} {key}\n")
        self._known_hosts_written = True

    def regenerate_host_key(self) -> None:
        """Given this server, give it a new host key and restart it on the same port: `known_hosts`
        keeps the old key, so ssh fails host key verification (`trust_host_key()` accepts the new one)."""
        keygen(self.host_key, "backupplan-test-host")
        if self.process is not None:
            self.restart()

    def write_config(self) -> None:
        """Given this server, write its sshd_config: only this folder's files, public keys only."""
        lines = [
            f"ListenAddress {self.host}",
            f"Port {self.port}",
            "AddressFamily inet",
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "AuthorizedPrincipalsFile none",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "GSSAPIAuthentication no",
            "UsePAM no",
            # authorized_keys lies outside the home folder, under /tmp (mode 1777): the StrictModes
            # check of every folder above it would refuse it.
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PermitUserEnvironment no",
            "PermitUserRC no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "X11Forwarding no",
            # Fault tests reconnect quickly: never drop a connection for too many unauthenticated ones.
            "MaxStartups 100",
            "LoginGraceTime 30",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ]
        self.config.write_text("\n".join(lines) + "\n")

    # -- lifecycle ------------------------------------------------------------------------------

    def command(self) -> list[str]:
        """Given this server, return the argv that runs sshd in the foreground, logging to `log`."""
        return [str(SSHD), "-D", "-e", "-f", str(self.config), "-E", str(self.log)]

    def start(self, timeout: float = 15.0) -> None:
        """Given a stopped server, start sshd in its own process group and return once it sends its
        SSH banner. On the first start a port taken meanwhile by someone else is replaced by a free one;
        `known_hosts` is written on the first start only."""
        if self.process is not None:
            raise RuntimeError("sshd is already running")
        if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        for _attempt in range(5):
            self.write_config()
            if self._launch(timeout):
                break
            if self._port_fixed or self._known_hosts_written:
                raise RuntimeError(f"sshd did not start on port {self.port}:\n{self.log_text()}")
            self.port = free_port()
        else:
            raise RuntimeError(f"sshd did not start:\n{self.log_text()}")
        if not self._known_hosts_written:
            self.trust_host_key()
        self._port_fixed = True

    def _launch(self, timeout: float) -> bool:
        """Given a written config, start sshd and wait for its banner; return False when it exited
        because its port was taken, raise for any other failure."""
        logged_before = len(self.log_text())
        with self.stderr_log.open("ab") as stderr:
            process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        self.process = process
        self._pgids.add(process.pid)
        self._remember([read_proc(process.pid)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.process = None
                if "Address already in use" in self.log_text()[logged_before:]:
                    return False
                raise RuntimeError(f"sshd exited with {process.returncode}:\n{self.log_text()}")
            self.banner = read_banner(self.port, timeout=0.5)
            if self.banner is not None:
                return True
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"sshd sent no banner on port {self.port} after {timeout}s:\n{self.log_text()}")

    def stop(self) -> None:
        """Given a server, end it and every process below it (SIGTERM, SIGKILL after 5 s): live
        connections close. Raise when a process survives even SIGKILL."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Given a server, SIGKILL it and every process below it at once: live connections break
        mid-transfer, as when the host dies."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Given a server, stop it and start it again on the same port with the same keys."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Given a server, SIGSTOP it and every live connection: the port still accepts TCP
        connections, but nothing answers (a hung peer). New logins time out during the banner
        exchange."""
        if self.process is None:
            raise RuntimeError("sshd is not running")
        self._freeze(include_listener=True)
        self._paused = True

    def resume(self) -> None:
        """Given a paused server, SIGCONT it and its connections."""
        self._paused = False
        for process in self._tree(include_listener=True):
            send(process, signal.SIGCONT)

    def kill_sessions(self) -> list[Proc]:
        """Given a server, SIGKILL every per-connection process (and the commands it runs) but not the
        listener: live connections drop while new ones are still accepted. Return what was killed."""
        if self.process is None:
            return []
        victims = self._freeze(include_listener=False)
        for process in victims:
            send(process, signal.SIGKILL)
        if not self._paused:
            send(self._listener(), signal.SIGCONT)
        wait_gone(victims, 5)
        return victims

    def processes(self) -> list[Proc]:
        """Given this server, return every process of it still running: its listeners' process
        groups, everything below the listener, and every process ever seen below it (reparented or
        not) with what runs below those. Zombies do not count."""
        table = process_table()
        roots = {pid for pid, process in table.items() if process.pgid in self._pgids}
        roots |= {pid for (pid, start) in self._seen if pid in table and table[pid].start == start}
        found = {pid: table[pid] for pid in roots} | descendants(roots, table)
        return sorted(
            (process for process in found.values() if process.state not in {"Z", "X", "x"}),
            key=lambda process: process.pid,
        )

    def log_text(self) -> str:
        """Given this server, return its log (sshd's own log file, then anything it wrote before)."""
        parts = [path.read_text(errors="replace") for path in (self.log, self.stderr_log) if path.exists()]
        return "".join(parts)

    # -- internals ------------------------------------------------------------------------------

    def _listener(self) -> Proc:
        """Given a running server, return its listener process."""
        assert self.process is not None
        found = read_proc(self.process.pid)
        assert found is not None, "the listener is gone"
        return found

    def _remember(self, processes: Iterable[Proc | None]) -> None:
        """Given processes, note them as this server's so `processes()` finds them later."""
        for process in processes:
            if process is not None:
                self._seen[process.identity] = process

    def _tree(self, *, include_listener: bool) -> list[Proc]:
        """Given this server, return its running processes, without the listener unless asked."""
        found = self.processes()
        self._remember(found)
        if include_listener or self.process is None:
            return found
        return [process for process in found if process.pid != self.process.pid]

    def _freeze(self, *, include_listener: bool) -> list[Proc]:
        """Given a server, SIGSTOP its processes until no new one appears and return them (the
        listener is stopped during the walk, so it forks no new connection, and returned only when
        asked for; otherwise it stays stopped and the caller resumes it)."""
        stopped: dict[tuple[int, int], Proc] = {}
        if self.process is not None and (listener := read_proc(self.process.pid)) is not None:
            send(listener, signal.SIGSTOP)
            wait_stopped([listener], 1.0)
        for _round in range(50):
            new = [
                process for process in self._tree(include_listener=True) if process.identity not in stopped
            ]
            if not new:
                break
            for process in new:
                send(process, signal.SIGSTOP)
                stopped[process.identity] = process
            wait_stopped(new, 1.0)
        if include_listener or self.process is None:
            return list(stopped.values())
        return [process for process in stopped.values() if process.pid != self.process.pid]

    def _end(self, first: signal.Signals) -> None:
        """Given a server, freeze its processes, send them `first`, resume them, and wait for them to
        end; SIGKILL what is left after 5 s. Raise when anything survives."""
        if self.process is None:
            return
        victims = self._freeze(include_listener=True)
        for process in victims:
            send(process, first)
        for process in victims:
            send(process, signal.SIGCONT)
        self._paused = False
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        leftovers = wait_gone(self.processes(), 5)
        for process in leftovers:
            send(process, signal.SIGKILL)
        leftovers = wait_gone(leftovers, 5)
        self.process = None
        if leftovers:
            raise RuntimeError(f"sshd processes survived SIGKILL: {leftovers}")


def log_tail(server: Sshd, lines: int = 40) -> str:
    """Given a server, return the last lines of its log."""
    return "\n".join(server.log_text().splitlines()[-lines:])


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A running sshd on 127.0.0.1 for this test alone (it may stop, kill, pause or restart it);
    afterwards every process of it is ended, even when the test fails."""
    require_openssh()
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        try:
            server.kill()
        finally:
            # Shown by pytest only for a failing test ("Captured stdout teardown").
            print(f"--- sshd log ({server.log}) ---\n{log_tail(server)}")
