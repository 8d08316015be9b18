"""Real, throwaway PostgreSQL and MariaDB servers for database-dump tests, from Debian's packages.

`Postgres` runs `initdb` and `postgres` from /usr/lib/postgresql/<version>/bin (the highest
version installed); `MariaDB` runs `mariadb-install-db` and `mariadbd`. Each server lives in a
fresh folder of its own under the system temp folder (data folder, unix socket, pid file, log)
and listens on 127.0.0.1 at a free port and on a unix socket in that folder. Nothing of the
machine's own clusters or services is read, written, started or stopped: not /etc/postgresql,
/var/lib/postgresql, /etc/mysql (mariadbd runs with `--no-defaults`), /var/lib/mysql, nor any
systemd unit or init script. Debian's postgresql package creates a cluster `main` on install:
it is left alone.

Both servers authenticate for real: the superuser `backup` has a random password (SCRAM for
PostgreSQL, on TCP and on the socket; mysql_native_password for MariaDB, as `backup`@`%` and
`backup`@`localhost`). Client helpers never put a password on a command line: PostgreSQL's come
through PGPASSWORD, MariaDB's through a 0600 option file (`--defaults-file`) or MYSQL_PWD.

Run as root (as CI does), a server runs as an unprivileged account, because PostgreSQL refuses to
run as root: the package's own system user (`postgres`, `mysql`) when it exists, otherwise
`nobody`, through `setpriv --reuid --regid --init-groups` (which execs, so the server is our
direct child). The folder is handed to that account; it lives under /tmp rather than under
pytest's tmp_path, whose parent folders are mode 0700 root and cannot be traversed by it.
`--pdeathsig KILL` makes the kernel kill the server should the test process itself die.

PostgreSQL's postmaster puts every child (checkpointer, backends …) in a session of its own
(setsid), so a process-group kill misses them. `stop()` and `kill()` therefore walk /proc from the
server down (freezing the server first with SIGSTOP, so it forks nothing during the walk), remember
every process seen (pid and start time, so a reparented one is still found) and wait until none is
left. `dynamic_shared_memory_type=mmap` keeps PostgreSQL's dynamic shared memory inside the data
folder, and the small System V segment a killed postmaster leaves is removed at clean-up.

Fixtures: `postgres` and `mariadb` (one server per test module: starting one takes about a
second), and `postgres_database` / `mariadb_database`, which give each test a fresh, empty
database (restarting the module's server first if an earlier test stopped or killed it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import pytest

from tests.procs import Proc, descendants, process_table, read_proc, send, wait_gone
from tests.servers import free_port

HOST = "127.0.0.1"
USER = "backup"
POSTGRES_ROOT = Path("/usr/lib/postgresql")
# The Debian packages that bring every program these fixtures and their tests run. mariadb-server-core
# has mariadbd and mariadb-install-db without the system service, data folder or `mysql` user of
# mariadb-server (the server then runs as `nobody`); mariadb-client has mariadb-dump.
POSTGRES_PACKAGES = ("postgresql", "postgresql-client")
MARIADB_PACKAGES = ("mariadb-server-core", "mariadb-client")
# A unix socket path has at most 107 bytes (sun_path); leave room for `.s.PGSQL.65535.lock`.
MAX_ROOT_LENGTH = 80
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


# ---------------------------------------------------------------------------------------------------
# Helpers


class DatabaseCommandError(RuntimeError):
    """A client program (psql, mariadb …) exited non-zero; the message holds its stderr."""

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(f"{Path(argv[0]).name} exited with {returncode}: {stderr.strip() or stdout.strip()}")
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class ServerStartError(RuntimeError):
    """A server did not come up; the message holds the end of its log."""


@dataclass(frozen=True)
class Account:
    """The unprivileged system account a server runs as when the tests run as root."""

    name: str
    uid: int
    gid: int


def service_account(preferred: str) -> Account | None:
    """Given the name of a package's system user (`postgres`, `mysql`), return the account a server
    started by root runs as: that user when it exists, otherwise `nobody`. Return None when not
    root: the server then runs as the current user."""
    if os.geteuid() != 0:
        return None
    for name in (preferred, "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return Account(name, entry.pw_uid, entry.pw_gid)
    raise RuntimeError(f"neither {preferred!r} nor 'nobody' exists: no account to run a server as")


def new_password() -> str:
    """Given nothing, return a random password of letters and digits (no quoting needed anywhere)."""
    return "pw" + secrets.token_hex(12)


def check_identifier(name: str) -> str:
    """Given a database name, return it when it is a plain lower-case SQL identifier; raise otherwise
    (the helpers paste names into SQL)."""
    if not IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def temp_parent() -> str:
    """Given nothing, return the folder for server folders: the temp folder when its paths are short
    enough for unix sockets, otherwise /tmp."""
    parent = tempfile.gettempdir()
    return parent if len(parent) <= MAX_ROOT_LENGTH - 30 else "/tmp"


def client_environment(extra: dict[str, str]) -> dict[str, str]:
    """Given variables, return this process's environment without any PG* or MYSQL_* variable,
    plus `extra`: a client sees only the server it is pointed at."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PG", "MYSQL_"))}
    env.update(extra)
    return env


def run_client(argv: list[str], *, env: dict[str, str], stdin: str = "", timeout: float = 60) -> str:
    """Given a client command line, run it with `stdin` as input; return its stdout, or raise
    DatabaseCommandError (with its stderr) when it exits non-zero."""
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise DatabaseCommandError(argv, done.returncode, done.stdout, done.stderr)
    return done.stdout


def require(what: str, missing: list[str], packages: tuple[str, ...]) -> None:
    """Given a server's name and the programs of it that are missing, return when none is. Otherwise
    skip the test when not root, and fail it loudly as root: CI runs as root and installs the
    packages, so a missing one there is a broken set-up, not a reason to skip."""
    if not missing:
        return
    reason = (
        f"{what} is missing ({', '.join(missing)}): install the Debian packages {' '.join(packages)} "
        f"(apt-get install --no-install-recommends {' '.join(packages)})"
    )
    if os.geteuid() == 0:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def find_program(*names: str, extra_dirs: tuple[str, ...] = ("/usr/sbin", "/usr/bin")) -> str | None:
    """Given program names in order of preference, return the path of the first one found on PATH
    or in `extra_dirs` (root's PATH may lack /usr/sbin), or None."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs])
    for name in names:
        found = shutil.which(name, path=search)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------------------------------
# The common part of both servers


class Server:
    """A database server in a folder of its own (`root`), as a direct child process of this one."""

    name = "server"
    graceful_signal = signal.SIGTERM
    system_user = "nobody"

    def __init__(self, *, account: Account | Literal["auto"] | None = "auto") -> None:
        self.account = service_account(self.system_user) if account == "auto" else account
        self.root = Path(tempfile.mkdtemp(prefix=f"bp-{self.name}-", dir=temp_parent()))
        if len(str(self.root)) > MAX_ROOT_LENGTH:
            raise RuntimeError(f"{self.root} is too long for a unix socket path")
        if self.account is not None:
            os.chown(self.root, self.account.uid, self.account.gid)
        self.host = HOST
        self.port = free_port()
        self.socket_dir = self.root
        self.user = USER
        self.password = new_password()
        self.data_dir = self.root / "data"
        self.log = self.root / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        # Seconds spent initialising the data folder and in the last start, for reports.
        self.timings: dict[str, float] = {}
        self._initialised = False
        self._started_once = False
        self._seen: dict[tuple[int, int], Proc] = {}
        self._main_pids: list[int] = []

    # -- to be provided by each server ----------------------------------------------------------

    def initialise(self) -> None:
        """Given an empty folder, create the data folder with the `backup` superuser."""
        raise NotImplementedError

    def command(self) -> list[str]:
        """Given an initialised folder, return the argv that runs the server in the foreground."""
        raise NotImplementedError

    def ready(self) -> bool:
        """Given a started server process, return whether it accepts connections yet."""
        raise NotImplementedError

    def after_first_start(self) -> None:
        """Given a server that just came up for the first time, finish its set-up."""

    def port_taken(self, log: str) -> bool:
        """Given the log of a server that exited on start, return whether its port was taken."""
        return "Address already in use" in log

    # -- running programs as the server's account -----------------------------------------------

    def as_account(self, argv: list[str]) -> list[str]:
        """Given a command line, return one that runs it as the server's account (unchanged when
        not root). The kernel kills the program with SIGKILL should this process die."""
        if self.account is None:
            return argv
        return [
            "setpriv",
            f"--reuid={self.account.name}",
            f"--regid={self.account.gid}",
            "--init-groups",
            "--pdeathsig=KILL",
            *argv,
        ]

    def server_environment(self) -> dict[str, str]:
        """Given this server, return the environment its programs run with: nothing of ours (no PG*,
        no MYSQL_*), a neutral locale, and this folder as home."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.root),
            "TZ": "UTC",
        }

    def give(self, path: Path) -> None:
        """Given a file or folder just created in `root`, hand it to the server's account."""
        if self.account is not None:
            os.chown(path, self.account.uid, self.account.gid)

    def run_as_account(self, argv: list[str], log_name: str, timeout: float = 120) -> None:
        """Given a set-up command line, run it as the server's account in `root`, logging to
        `root/log_name`; raise with that log when it fails."""
        log = self.root / log_name
        with log.open("wb") as output:
            done = subprocess.run(
                self.as_account(argv),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self.server_environment(),
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0:
            raise ServerStartError(
                f"{' '.join(argv)} exited with {done.returncode}:\n{log.read_text(errors='replace')}"
            )

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Given this server, return whether its main process still runs."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60) -> None:
        """Given this server, start it (initialising its data folder the first time) and return once
        it accepts connections; do nothing when it already runs. Until the first successful start a
        port taken meanwhile is replaced by a free one; later starts keep the port (clients keep
        their settings)."""
        if self.running:
            return
        if self.process is not None:
            self._reap()
        began = time.monotonic()
        if not self._initialised:
            self.initialise()
            self._initialised = True
            self.timings["initialise"] = time.monotonic() - began
        launched = time.monotonic()
        for _attempt in range(5):
            if self._launch(timeout):
                break
            if self._started_once:
                raise ServerStartError(f"{self.name}: port {self.port} is taken:\n{self.log_tail()}")
            self.port = free_port()
        else:
            raise ServerStartError(f"{self.name} found no free port:\n{self.log_tail()}")
        self.timings["start"] = time.monotonic() - launched
        if not self._started_once:
            self.after_first_start()
            self._started_once = True
        self.timings["total"] = time.monotonic() - began

    def _launch(self, timeout: float) -> bool:
        """Given an initialised server, start it and wait until it is ready; return False when it
        exited because its port was taken, raise for any other failure."""
        logged_before = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as output:
            process = subprocess.Popen(
                self.as_account(self.command()),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self.server_environment(),
                start_new_session=True,
            )
        self.process = process
        self._main_pids.append(process.pid)
        self._remember([read_proc(process.pid)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._reap()
                log = self.log.read_bytes()[logged_before:].decode(errors="replace")
                if self.port_taken(log):
                    return False
                raise ServerStartError(f"{self.name} exited with {process.returncode} on start:\n{log}")
            if self.ready():
                self.processes()  # remember the children started so far
                return True
            time.sleep(0.02)
        self.kill()
        raise ServerStartError(f"{self.name} was not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30) -> None:
        """Given a server, shut it down cleanly (SIGKILL after `timeout` seconds) and wait until no
        process of it is left."""
        if self.process is None:
            return
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, self.graceful_signal)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._reap()

    def kill(self) -> None:
        """Given a server, SIGKILL it and every process of it at once, as when the machine loses
        power: clients then get "connection refused". `start()` brings it back (crash recovery)."""
        if self.process is None:
            return
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGSTOP)  # forks nothing while we look
        for _round in range(5):
            victims = self.processes()
            if not victims:
                break
            for process in victims:
                send(process, signal.SIGKILL)
            wait_gone(victims, 10)
        self._reap()

    def _reap(self) -> None:
        """Given a server whose main process ended or was killed, collect it and wait until every
        process of it is gone; raise when one survives SIGKILL."""
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        leftovers = wait_gone(self.processes(), 10)
        for process in leftovers:
            send(process, signal.SIGKILL)
        leftovers = wait_gone(leftovers, 10)
        self.process = None
        if leftovers:
            raise RuntimeError(f"{self.name} processes survived SIGKILL: {leftovers}")

    def processes(self) -> list[Proc]:
        """Given this server, return every process of it still running: the main process, every
        process below it, and every process ever seen below it (even when reparented since)."""
        table = process_table()
        roots = {pid for (pid, start) in self._seen if pid in table and table[pid].start == start}
        if self.process is not None and self.process.pid in table:
            roots.add(self.process.pid)
        found = {pid: table[pid] for pid in roots} | descendants(roots, table)
        live = [process for process in found.values() if process.state not in {"Z", "X", "x"}]
        self._remember(live)
        return sorted(live, key=lambda process: process.pid)

    def _remember(self, processes: Iterable[Proc | None]) -> None:
        """Given processes, note them as this server's so `processes()` finds them later."""
        for process in processes:
            if process is not None:
                self._seen[process.identity] = process

    def cleanup(self) -> None:
        """Given this server, stop it, remove what a killed server leaves outside its folder, and
        delete the folder."""
        try:
            self.stop(timeout=15)
        finally:
            self.release_leftovers()
            shutil.rmtree(self.root, ignore_errors=True)

    def release_leftovers(self) -> None:
        """Given a stopped server, remove what a killed one leaves outside its folder."""

    def log_text(self) -> str:
        """Given this server, return its log."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        """Given this server, return the last lines of its log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_ready(self, timeout: float = 10) -> bool:
        """Given a running server, wait up to `timeout` seconds until it accepts connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return True
            time.sleep(0.02)
        return False


# ---------------------------------------------------------------------------------------------------
# PostgreSQL


def postgres_bin_dir() -> Path | None:
    """Given this machine, return /usr/lib/postgresql/<version>/bin of the highest version that has
    initdb, pg_ctl and postgres, or None."""
    candidates: list[tuple[int, Path]] = []
    if POSTGRES_ROOT.is_dir():
        for entry in POSTGRES_ROOT.iterdir():
            bin_dir = entry / "bin"
            if entry.name.isdigit() and all(
                (bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")
            ):
                candidates.append((int(entry.name), bin_dir))
    return max(candidates)[1] if candidates else None


def require_postgres() -> Path:
    """Given this machine, return PostgreSQL's server bin folder when the server and the clients
    (psql, pg_dump) are installed; otherwise skip (not root) or fail (root)."""
    bin_dir = postgres_bin_dir()
    missing = [] if bin_dir is not None else [f"{POSTGRES_ROOT}/<version>/bin/{{initdb,pg_ctl,postgres}}"]
    missing += [tool for tool in ("psql", "pg_dump") if shutil.which(tool) is None]
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        missing.append("setpriv")
    require("PostgreSQL", missing, POSTGRES_PACKAGES)
    assert bin_dir is not None
    return bin_dir


class Postgres(Server):
    """A real PostgreSQL server: superuser `backup` with `password` (SCRAM) on 127.0.0.1:`port` and
    on the unix socket in `socket_dir`; fsync off."""

    name = "postgres"
    graceful_signal = signal.SIGINT  # "fast" shutdown: ends sessions, checkpoints, exits
    system_user = "postgres"

    def __init__(
        self, bin_dir: Path | None = None, *, account: Account | Literal["auto"] | None = "auto"
    ) -> None:
        found = bin_dir or postgres_bin_dir()
        if found is None:
            raise RuntimeError(f"PostgreSQL is not installed ({POSTGRES_ROOT}/<version>/bin)")
        self.bin_dir = found
        self.initdb = found / "initdb"
        self.pg_ctl = found / "pg_ctl"
        self.server_program = found / "postgres"
        self.version = found.parent.name
        super().__init__(account=account)

    def initialise(self) -> None:
        """Given an empty folder, run initdb as the account: superuser `backup` with the password
        (read from a 0600 file, removed afterwards), SCRAM for every connection, no fsync."""
        password_file = self.root / "password"
        password_file.touch(mode=0o600)
        password_file.write_text(self.password)
        self.give(password_file)
        try:
            self.run_as_account(
                [
                    str(self.initdb),
                    f"--pgdata={self.data_dir}",
                    f"--username={self.user}",
                    f"--pwfile={password_file}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                    "--no-instructions",
                ],
                "initdb.log",
            )
        finally:
            password_file.unlink(missing_ok=True)

    def command(self) -> list[str]:
        """Given an initialised data folder, return the postmaster's argv: listening on 127.0.0.1
        and on the socket in `socket_dir`; no fsync (safe against a killed server, not a lost machine)."""
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            # No fsync, but commits still write their WAL to the kernel: a killed server (not a
            # crashed machine) loses no committed row, as kill() tests expect.
            "fsync": "off",
            "full_page_writes": "off",
            # Files in the data folder instead of /dev/shm: nothing outlives the folder.
            "dynamic_shared_memory_type": "mmap",
            "shared_buffers": "32MB",
            "max_connections": "40",
            "logging_collector": "off",
            "log_line_prefix": "%m [%p] ",
        }
        argv = [str(self.server_program), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def ready(self) -> bool:
        """Given a started postmaster, return whether its postmaster.pid (ours, not a stale one from a
        killed server) says `ready`."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return (
            self.process is not None
            and len(lines) >= 8
            and lines[0].strip() == str(self.process.pid)
            and lines[7].strip() == "ready"
        )

    def port_taken(self, log: str) -> bool:
        """Given the log of a postmaster that exited on start, return whether its port was taken."""
        return "could not bind" in log or "Address already in use" in log

    def release_leftovers(self) -> None:
        """Given a stopped server, remove the System V shared memory segments that postmasters of it
        created and that nothing is attached to any more (a killed postmaster leaves its own)."""
        try:
            rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
        except OSError:
            return
        ours = set(self._main_pids)
        for row in rows:
            fields = row.split()
            shmid, creator, attached = int(fields[1]), int(fields[4]), int(fields[6])
            if creator in ours and attached == 0:
                subprocess.run(["ipcrm", "-m", str(shmid)], capture_output=True, check=False)

    # -- clients --------------------------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        """Given a database name, return a libpq URI for it over TCP, password included."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(database, safe='')}"
        )

    def environment(self, database: str | None = None, *, socket: bool = False) -> dict[str, str]:
        """Given an optional database, return the libpq variables that reach this server: PGHOST
        (127.0.0.1, or the socket folder when `socket`), PGPORT, PGUSER, PGPASSWORD, and
        PGDATABASE when a database is given."""
        env = {
            "PGHOST": str(self.socket_dir) if socket else self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
        }
        if database is not None:
            env["PGDATABASE"] = database
        return env

    def client(self, program: str) -> str:
        """Given a client's name (psql, pg_dump …), return the one of the server's version when
        installed, otherwise the one on PATH."""
        own = self.bin_dir / program
        return str(own) if own.is_file() else program

    def psql(self, sql: str, database: str = "postgres", *, socket: bool = False) -> str:
        """Given SQL (one or more statements), run it through the real psql client as `backup` and
        return its output: one line per row, fields separated by tabs, no headers. Raise
        DatabaseCommandError with psql's stderr on any error (ON_ERROR_STOP)."""
        argv = [
            self.client("psql"),
            "--no-psqlrc",
            "--quiet",
            "--no-align",
            "--tuples-only",
            "--field-separator=\t",
            "--set=ON_ERROR_STOP=1",
            f"--dbname={database}",
            "--file=-",
        ]
        env = client_environment(self.environment(socket=socket) | {"PGCONNECT_TIMEOUT": "10"})
        return run_client(argv, env=env, stdin=sql)

    def create_database(self, name: str) -> str:
        """Given a plain identifier, create that (empty) database and return its name."""
        self.psql(f"CREATE DATABASE {check_identifier(name)}")
        return name

    def drop_database(self, name: str) -> None:
        """Given a database name, drop it, ending its sessions first; nothing when it does not exist."""
        self.psql(f"DROP DATABASE IF EXISTS {check_identifier(name)} WITH (FORCE)")


# ---------------------------------------------------------------------------------------------------
# MariaDB


@dataclass(frozen=True)
class MariaDBPrograms:
    """Where MariaDB's programs are on this machine."""

    server: str
    install_db: str
    client: str
    dump: str


def mariadb_programs() -> tuple[MariaDBPrograms | None, list[str]]:
    """Given this machine, return MariaDB's programs (preferring the mariadb* names to the mysql*
    aliases), or None with the names of those missing."""
    found = {
        "mariadbd": find_program("mariadbd", "mysqld"),
        "mariadb-install-db": find_program("mariadb-install-db", "mysql_install_db"),
        "mariadb": find_program("mariadb", "mysql"),
        "mariadb-dump": find_program("mariadb-dump", "mysqldump"),
    }
    missing = [name for name, path in found.items() if path is None]
    if missing:
        return None, missing
    paths = [path for path in found.values() if path is not None]
    return MariaDBPrograms(*paths), []


def require_mariadb() -> MariaDBPrograms:
    """Given this machine, return MariaDB's programs when installed; otherwise skip (not root) or
    fail (root)."""
    programs, missing = mariadb_programs()
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        missing.append("setpriv")
    require("MariaDB", missing, MARIADB_PACKAGES)
    assert programs is not None
    return programs


def read_handshake(path: Path, timeout: float = 0.5) -> bool:
    """Given a unix socket path, return whether a MySQL-protocol server there sends its greeting
    (protocol version 10) or an error packet: a server that answers at all is up."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(path))
            received = b""
            while len(received) < 5:
                chunk = connection.recv(64)
                if not chunk:
                    return False
                received += chunk
    except OSError:
        return False
    return received[4] in {10, 0xFF}


def option_file_text(options: dict[str, str]) -> str:
    """Given client options, return a MySQL option file with them in its [client] group."""
    return "[client]\n" + "".join(f"{key}={value}\n" for key, value in options.items())


class MariaDB(Server):
    """A real MariaDB server: `backup`@`%` and `backup`@`localhost` with `password` and every
    privilege, on 127.0.0.1:`port` and on the unix socket `socket`; `root`@`localhost` has
    `root_password`. No option file of the machine is read (`--no-defaults`)."""

    name = "mariadb"
    graceful_signal = signal.SIGTERM
    system_user = "mysql"

    def __init__(
        self, programs: MariaDBPrograms | None = None, *, account: Account | Literal["auto"] | None = "auto"
    ) -> None:
        found = programs or mariadb_programs()[0]
        if found is None:
            raise RuntimeError("MariaDB is not installed (mariadbd, mariadb-install-db, mariadb)")
        self.programs = found
        super().__init__(account=account)
        self.socket = self.root / "mariadb.sock"
        self.pid_file = self.root / "mariadb.pid"
        self.root_password = new_password()
        self.option_file = self.root / "client.cnf"
        self.version = ""

    def initialise(self) -> None:
        """Given an empty folder, run mariadb-install-db as the account: system tables, a
        `root`@`localhost` without password (until the first start sets one), no test database."""
        self.run_as_account(
            [
                self.programs.install_db,
                "--no-defaults",
                f"--datadir={self.data_dir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=16M",
            ],
            "install-db.log",
        )

    def command(self) -> list[str]:
        """Given an initialised data folder, return mariadbd's argv: no option files, listening on
        127.0.0.1 and on `socket`, logging to stderr; no fsync (safe against a killed server only)."""
        return [
            self.programs.server,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--pid-file={self.pid_file}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            # Each commit writes its log to the kernel without fsync: kill() loses no committed row.
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-doublewrite=0",
            "--max-connections=40",
        ]

    def ready(self) -> bool:
        """Given a started mariadbd, return whether it greets a client on its unix socket."""
        return read_handshake(self.socket)

    def after_first_start(self) -> None:
        """Given a server that just came up for the first time, create `backup`@`%` and
        `backup`@`localhost`, give root@localhost a password, drop the other root accounts
        install-db made, and write the 0600 option file the helpers use."""
        others = self._bootstrap(
            "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user "
            "WHERE User = 'root' AND Host <> 'localhost'"
        ).split()
        statements = [
            f"CREATE USER '{self.user}'@'localhost' IDENTIFIED BY '{self.password}'",
            f"CREATE USER '{self.user}'@'%' IDENTIFIED BY '{self.password}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'localhost' WITH GRANT OPTION",
            f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'%' WITH GRANT OPTION",
            *(f"DROP USER {account}" for account in others),
            f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{self.root_password}'",
            "FLUSH PRIVILEGES",
        ]
        self._bootstrap(";\n".join(statements) + ";\n")
        self.write_option_file(self.option_file)
        self.version = self.sql("SELECT VERSION()").strip()

    def _bootstrap(self, sql: str) -> str:
        """Given SQL, run it as root without password over the socket (only before the first start
        has finished: root gets a password then)."""
        argv = [
            self.programs.client,
            "--no-defaults",
            f"--socket={self.socket}",
            "--user=root",
            "--batch",
            "--skip-column-names",
        ]
        return run_client(argv, env=client_environment({}), stdin=sql)

    # -- clients --------------------------------------------------------------------------------

    def client_options(self, *, socket: bool = False, password: str | None = None) -> dict[str, str]:
        """Given the transport, return the [client] options that reach this server as `backup`:
        host 127.0.0.1 and port, or the socket; `password` replaces the real one (for tests of a
        wrong one)."""
        options = {"user": self.user, "password": self.password if password is None else password}
        if socket:
            options |= {"host": "localhost", "socket": str(self.socket)}
        else:
            options |= {"host": self.host, "port": str(self.port), "protocol": "TCP"}
        return options

    def write_option_file(self, path: Path, *, socket: bool = False, password: str | None = None) -> Path:
        """Given a path, write a 0600 option file there with `client_options()` (created 0600, so
        the password is never readable by others, not even for a moment) and return the path."""
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as output:
            output.write(option_file_text(self.client_options(socket=socket, password=password)))
        return path

    def environment(self) -> dict[str, str]:
        """Given this server, return the variables MariaDB's clients read: MYSQL_PWD (the password),
        MYSQL_TCP_PORT and MYSQL_UNIX_PORT. There is no variable for the user, and mariadb-dump
        ignores MYSQL_HOST, so clients still need `--user=backup` and `--host=127.0.0.1` (Debian's
        /etc/mysql/ [client] `socket=` overrides MYSQL_UNIX_PORT; use `--socket` for the socket)."""
        return {
            "MYSQL_PWD": self.password,
            "MYSQL_TCP_PORT": str(self.port),
            "MYSQL_UNIX_PORT": str(self.socket),
        }

    def sql(self, statement: str, database: str | None = None) -> str:
        """Given SQL (one or more statements), run it through the real mariadb client as `backup`
        over TCP (password from the 0600 option file, not argv) and return its output: one line per
        row, fields separated by tabs, no headers. Raise DatabaseCommandError on any error."""
        argv = [
            self.programs.client,
            f"--defaults-file={self.option_file}",
            "--batch",
            "--skip-column-names",
            "--connect-timeout=10",
        ]
        if database is not None:
            argv.append(f"--database={database}")
        return run_client(argv, env=client_environment({}), stdin=statement)

    def create_database(self, name: str) -> str:
        """Given a plain identifier, create that (empty) database and return its name."""
        self.sql(f"CREATE DATABASE `{check_identifier(name)}`")
        return name

    def drop_database(self, name: str) -> None:
        """Given a database name, drop it; nothing when it does not exist."""
        self.sql(f"DROP DATABASE IF EXISTS `{check_identifier(name)}`")


# ---------------------------------------------------------------------------------------------------
# Fixtures


def unique_name(prefix: str) -> str:
    """Given a prefix, return a database name no other test uses."""
    return f"{prefix}_{secrets.token_hex(4)}"


def finish(server: Server) -> None:
    """Given a fixture's server, stop it and delete its folder; print its log's end (pytest shows it
    for a failing test only). Raise when a process of it survived."""
    log = server.log_tail()
    try:
        server.cleanup()
    finally:
        print(f"--- {server.name} log ({server.log}) ---\n{log}")
    left = server.processes()
    if left:
        raise RuntimeError(f"{server.name} left processes behind: {left}")


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A running PostgreSQL server shared by the tests of one module (a test may stop or kill it:
    `postgres_database` starts it again). Stopped and deleted afterwards, even when a test fails."""
    server = Postgres(require_postgres())
    try:
        server.start()
        yield server
    finally:
        finish(server)


@pytest.fixture(scope="module")
def mariadb() -> Iterator[MariaDB]:
    """A running MariaDB server shared by the tests of one module (a test may stop or kill it:
    `mariadb_database` starts it again). Stopped and deleted afterwards, even when a test fails."""
    server = MariaDB(require_mariadb())
    try:
        server.start()
        yield server
    finally:
        finish(server)


@pytest.fixture
def postgres_database(postgres: Postgres) -> Iterator[str]:
    """The name of a fresh, empty database on the module's PostgreSQL server (started again first
    when an earlier test stopped or killed it); dropped afterwards while the server runs."""
    postgres.start()
    name = postgres.create_database(unique_name("test"))
    yield name
    if postgres.running:
        postgres.drop_database(name)


@pytest.fixture
def mariadb_database(mariadb: MariaDB) -> Iterator[str]:
    """The name of a fresh, empty database on the module's MariaDB server (started again first when
    an earlier test stopped or killed it); dropped afterwards while the server runs."""
    mariadb.start()
    name = mariadb.create_database(unique_name("test"))
    yield name
    if mariadb.running:
        mariadb.drop_database(name)
