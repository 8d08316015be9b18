"""Which client program each dump needs, where it is, which version it is, and the private option
file MySQL's and MariaDB's programs read their password from."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from backupplan.dumps.argv import is_mysql, option_file_text
from backupplan.errors import BackupplanError
from backupplan.plan.model import Dump

VERSION_TIMEOUT = 10.0
# The programs of each engine, preferred first: on MariaDB systems mysqldump is an alias of
# mariadb-dump (and the other way round on some), so either will do.
DUMPERS = {"mysql": ("mysqldump", "mariadb-dump"), "mariadb": ("mariadb-dump", "mysqldump")}
CLIENTS = {"mysql": ("mysql", "mariadb"), "mariadb": ("mariadb", "mysql")}
PACKAGES = {
    "postgresql": "postgresql-client",
    "mysql": "mariadb-client (or mysql-client)",
    "mariadb": "mariadb-client",
}
_PG_VERSION = re.compile(r"\(PostgreSQL\)\s+(\S+)")
_DISTRIB = re.compile(r"Distrib\s+([^\s,]+)")
_VER = re.compile(r"\bVer\s+(\S+)")


class DumpError(BackupplanError):
    """A dump or its restore cannot be done as asked; the message says why and what to do."""


def register_password(dump: Dump) -> None:
    """Given a dump, make its password secret even when the plan wrote it out instead of ${VAR}:
    masked wherever text leaves the process."""
    from backupplan.secrets import mask, registry

    if dump.password and mask(dump.password) == dump.password:
        registry.add(dump.password, "password")


def dump_programs(dump: Dump) -> tuple[str, ...]:
    """Given a server dump, return the programs that can write it, preferred first."""
    if dump.engine == "postgresql":
        return ("pg_dumpall",) if dump.everything else ("pg_dump",)
    return DUMPERS[dump.engine]


def client_programs(dump: Dump) -> tuple[str, ...]:
    """Given a server dump, return the clients that connect to its server, preferred first."""
    return ("psql",) if dump.engine == "postgresql" else CLIENTS[dump.engine]


def load_programs(dump: Dump) -> tuple[str, ...]:
    """Given a server dump, return the programs that load it back, preferred first."""
    if dump.engine == "postgresql":
        return ("pg_restore",) if dump.format == "custom" else ("psql",)
    return CLIENTS[dump.engine]


def find(names: tuple[str, ...], env: Mapping[str, str] | None = None) -> str | None:
    """Given program names, preferred first, return the path of the first one on PATH, or None."""
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    for name in names:
        found = shutil.which(name, path=search)
        if found is not None:
            return found
    return None


def require(names: tuple[str, ...], engine: str, env: Mapping[str, str] | None = None) -> str:
    """Given program names and the engine, return the first one's path; raise DumpError naming the
    package to install when none is there."""
    found = find(names, env)
    if found is None:
        raise DumpError(
            f"{' or '.join(names)} is not installed or not on PATH: install {PACKAGES.get(engine, engine)}"
        )
    return found


def parse_version(text: str) -> str | None:
    """Given what `PROGRAM --version` printed, return the version (`15.18`, `10.11.19-MariaDB`,
    `8.0.36`), or None."""
    for pattern in (_PG_VERSION, _DISTRIB, _VER):
        if match := pattern.search(text):
            return match[1]
    return None


_versions: dict[tuple[str, int], str | None] = {}


def version_of(program: str) -> str | None:
    """Given a program's path, return its version (asked once per installed file), or None when it
    does not say."""
    from backupplan.process.execute import run_short

    try:
        key = (program, os.stat(program).st_mtime_ns)
    except OSError:
        return None
    if key not in _versions:
        try:
            result = run_short([program, "--version"], timeout=VERSION_TIMEOUT)
        except BackupplanError:
            return None
        text = result.stdout.decode("utf-8", "replace")
        _versions[key] = parse_version(text) if result.exit_code == 0 else None
    return _versions[key]


def sqlite_version() -> str:
    return sqlite3.sqlite_version


def is_mariadb_client(program: str) -> bool:
    """Given a mysql or mariadb client's path, return whether it is MariaDB's (which knows
    --abort-source-on-error)."""
    name = Path(program).name
    if name.startswith("mariadb"):
        return True
    version = version_of(program)
    return version is not None and "mariadb" in version.lower()


@contextlib.contextmanager
def option_file(dump: Dump) -> Iterator[Path | None]:
    """For a MySQL or MariaDB dump, yield the path of its option file (`option_file_text`), in a
    folder of its own that only this user may enter, the file created 0600 before anything is
    written to it; both are removed afterwards. Yield None for the other engines."""
    if not is_mysql(dump):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="backupplan-client-") as folder:  # mode 0700
        path = Path(folder) / "client.cnf"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as output:
            output.write(option_file_text(dump))
        yield path


def first_error(lines: list[str]) -> str | None:
    """Given what a client printed on stderr, return the first line that reports an error (pg_dump's
    `error:`, MySQL's `Got error`, psql's `ERROR:`), else the first line, else None."""
    lines = [line.strip() for line in lines if line.strip()]
    for line in lines:
        lowered = line.lower()
        if any(word in lowered for word in ("error", "fatal", "failed", "denied")):
            return line
    return lines[0] if lines else None


def hint_for(error: str | None) -> str:
    """Given a client's error line, return what to check, in a few words."""
    text = (error or "").lower()
    if "password authentication failed" in text or "access denied" in text or "no password supplied" in text:
        return "check user and password (password: ${VAR} in the plan, set where backupplan runs)"
    if "connection refused" in text or "can't connect" in text or "no such file or directory" in text:
        return "is the database server running? check host, port and socket"
    if "could not translate host name" in text or "unknown server host" in text:
        return "check host: the name does not resolve"
    if "does not exist" in text or "unknown database" in text:
        return "check database: the server has none of that name"
    if "timeout" in text or "timed out" in text:
        return "the server did not answer in time: is it reachable?"
    if "server version mismatch" in text:
        return "install the client of the server's major version (e.g. postgresql-client-16)"
    if "permission denied" in text:
        return "give the user the rights to read everything it dumps"
    return "see the run's log for the client's output"
