"""A quick look at each dump's database for `backupplan doctor`: can its client reach the server
and log in (one cheap query: the server's version), is the dump program new enough for that
server, can SQLite read the file. Nothing is written to any database.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from backupplan.dumps.argv import environment, query_argv
from backupplan.dumps.clients import (
    DumpError,
    client_programs,
    dump_programs,
    find,
    first_error,
    hint_for,
    option_file,
    version_of,
)
from backupplan.errors import BackupplanError
from backupplan.plan.locations import resolve_local
from backupplan.plan.model import Dump

_MAJOR = re.compile(r"^(\d+)")
QUERIES = {
    "postgresql": "SELECT current_setting('server_version'), current_user",
    "mysql": "SELECT VERSION(), CURRENT_USER()",
}


@dataclass(frozen=True)
class Reached:
    """What the look found: `ok`, a sentence, what to do when not ok, the server's version."""

    ok: bool
    message: str
    hint: str | None = None
    server_version: str | None = None


def major(version: str | None) -> int | None:
    """Given `15.18` or `16.2 (Debian 16.2-1)`, return 15 or 16 (None when it does not say)."""
    match = _MAJOR.match(version or "")
    return int(match[1]) if match else None


def reach(dump: Dump, base_dir: Path, timeout: float) -> Reached:
    """Given a dump entry, the plan's folder and how long the look may take, connect to the database
    as the dump would and return what was found."""
    if dump.engine == "sqlite":
        from backupplan.dumps.sqlite import SQLITE_HINT, describe_sqlite

        assert dump.path is not None
        database = resolve_local(dump.path, base_dir)
        try:
            return Reached(True, f"{database} can be read: {describe_sqlite(database)}")
        except DumpError as error:
            hint = SQLITE_HINT
            return Reached(False, str(error), hint)
    from backupplan.process.execute import run_short

    client = find(client_programs(dump))
    if client is None:
        return Reached(False, f"cannot be checked: {' or '.join(client_programs(dump))} is not installed")
    kind = "postgresql" if dump.engine == "postgresql" else "mysql"
    seconds = max(2, int(timeout))
    with option_file(dump) as options:
        argv = query_argv(dump, client, QUERIES[kind], dump.database, options, connect_timeout=seconds)
        env = environment(dump, os.environ, connect_timeout=seconds)
        try:
            result = run_short(argv, env=env, timeout=timeout + 1)
        except BackupplanError as error:  # the client cannot be started
            return Reached(False, str(error))
    if result.timed_out:
        return Reached(False, f"did not answer within {seconds}s", "is the server reachable from here?")
    if result.exit_code != 0:
        said = first_error(result.stderr.decode("utf-8", "replace").splitlines())
        text = said or f"{Path(client).name} exited {result.exit_code}"
        return Reached(False, text, hint_for(text))
    fields = result.stdout.decode("utf-8", "replace").strip().split("\t")
    version, user = fields[0], fields[1] if len(fields) > 1 else "?"
    which = f"database {dump.database}" if dump.database else "every database"
    name = "PostgreSQL" if kind == "postgresql" else "MySQL/MariaDB"
    return Reached(True, f"{name} {version} answered; logged in as {user}; {which}", None, version)


def dump_program(dump: Dump) -> tuple[str | None, str | None]:
    """Given a server dump, return its dump program's path and version (None, None: not installed)."""
    program = find(dump_programs(dump))
    return (program, version_of(program)) if program else (None, None)


def too_old(dump: Dump, program_version: str | None, server_version: str | None) -> str | None:
    """Given a PostgreSQL dump, its pg_dump's version and the server's, return why pg_dump cannot
    dump that server (it refuses servers of a newer major version), or None."""
    if dump.engine != "postgresql":
        return None
    tool, server = major(program_version), major(server_version)
    if tool is None or server is None or tool >= server:
        return None
    return f"{dump_programs(dump)[0]} {program_version} cannot dump a PostgreSQL {server} server"
