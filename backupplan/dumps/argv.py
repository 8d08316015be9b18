"""The database clients' command lines, environments and option files: pure functions of a dump
entry, so that tests assert them exactly and `--dry-run` prints exactly what would run.

No password is ever put on a command line: PostgreSQL's clients get it in PGPASSWORD, MySQL's and
MariaDB's from an option file (`--defaults-extra-file`, written 0600 by `options.option_file`).
PostgreSQL's clients always get `--no-password`, so that a missing password fails at once instead
of waiting for someone to type it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from backupplan.plan.model import Dump

PG_MARKER = b"-- PostgreSQL database dump complete"
PG_CLUSTER_MARKER = b"-- PostgreSQL database cluster dump complete"
MYSQL_MARKER = b"-- Dump completed"
PG_CONNECT_TIMEOUT = 30  # seconds; the client's default is to wait for the operating system
# What every mysqldump/mariadb-dump gets: one consistent InnoDB snapshot without locking the
# tables (--single-transaction), stored routines and events, binary columns as hex (a dump that
# survives any re-encoding), and no date in the last line (an unchanged database gives an
# identical file, which the transfer and snapshots then skip).
MYSQL_DUMP_OPTIONS = ("--single-transaction", "--routines", "--events", "--hex-blob", "--skip-dump-date")
SYSTEM_DATABASES = {
    "postgresql": ("postgres", "template0", "template1"),
    "mysql": ("mysql", "information_schema", "performance_schema", "sys"),
}


def is_mysql(dump: Dump) -> bool:
    return dump.engine in ("mysql", "mariadb")


def marker(dump: Dump) -> bytes | None:
    """Given a dump, return the line its program writes last when the dump is complete (None: the
    format has none; the exit code is all there is)."""
    if dump.engine == "postgresql" and dump.format == "plain":
        return PG_CLUSTER_MARKER if dump.everything else PG_MARKER
    if is_mysql(dump):
        return MYSQL_MARKER
    return None


def pg_connection(dump: Dump) -> tuple[str, ...]:
    """Given a PostgreSQL dump, return the options that say where the server is and who logs in."""
    options = []
    host = dump.socket or dump.host
    if host is not None:
        options.append(f"--host={host}")
    if dump.port is not None:
        options.append(f"--port={dump.port}")
    if dump.user is not None:
        options.append(f"--username={dump.user}")
    return tuple(options)


def dump_argv(dump: Dump, program: str, output: Path, option_file: Path | None = None) -> tuple[str, ...]:
    """Given a server dump, the program to run (pg_dump, pg_dumpall, mysqldump or mariadb-dump),
    the file to write and, for MySQL and MariaDB, the option file; return the command line."""
    if dump.engine == "postgresql":
        if dump.everything:
            return (program, "--no-password", *pg_connection(dump), f"--file={output}", *dump.extra_args)
        # --clean --if-exists: the plain dump drops each object before making it again, so that it
        # can be loaded over an existing database (objects not in the dump are left alone).
        clean = ("--clean", "--if-exists") if dump.format == "plain" else ()
        return (
            program, "--no-password", *pg_connection(dump), f"--format={dump.format}", *clean,
            f"--file={output}", *dump.extra_args, f"--dbname={dump.database}",
        )  # fmt: skip
    assert option_file is not None and is_mysql(dump)
    which = ("--all-databases",) if dump.everything else (str(dump.database),)
    return (
        program, f"--defaults-extra-file={option_file}", *MYSQL_DUMP_OPTIONS, f"--result-file={output}",
        *dump.extra_args, *which,
    )  # fmt: skip


def environment(
    dump: Dump, base: Mapping[str, str], *, connect_timeout: int = PG_CONNECT_TIMEOUT
) -> dict[str, str]:
    """Given a dump and the environment to start from (ours plus the job's `env`), return the
    client's: for PostgreSQL, PGPASSWORD (when the plan gives a password), a connect timeout, the
    application name, and warnings only (no NOTICE lines about objects that do not exist yet)."""
    env = dict(base)
    if dump.engine == "postgresql":
        if dump.password:
            env["PGPASSWORD"] = dump.password
        env["PGCONNECT_TIMEOUT"] = str(max(2, connect_timeout))
        env.setdefault("PGAPPNAME", "backupplan")
        env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c client_min_messages=warning").strip()
    return env


def _quoted(value: str) -> str:
    # Option files read `\\` and `\"` inside double quotes; quotes keep a `#` from starting a comment.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def option_file_text(dump: Dump) -> str:
    """Given a MySQL or MariaDB dump, return its option file: the [client] group with user,
    password, host, port and socket (what the plan gives of them). Programs read it after the
    system's own option files, so the plan wins where both say something."""
    lines = ["[client]"]
    values = (
        ("user", dump.user),
        ("password", dump.password or None),
        ("host", dump.host),
        ("port", dump.port),
        ("socket", dump.socket),
    )
    lines += [f"{key}={_quoted(str(value))}" for key, value in values if value is not None]
    return "\n".join(lines) + "\n"


def load_argv(
    dump: Dump,
    program: str,
    file: Path,
    database: str | None,
    option_file: Path | None = None,
    *,
    mariadb_client: bool = True,
) -> tuple[str, ...]:
    """Given a server dump, the client that loads it (psql, pg_restore, mysql or mariadb), the dump
    file and the database to load it into (None for a dump of every database), return the command
    line. One database is loaded in one transaction that stops at the first error; a dump of every
    database is loaded as a whole, errors reported (roles and databases that exist already)."""
    if dump.engine == "postgresql":
        if dump.format == "custom":
            return (
                program, "--no-password", *pg_connection(dump), "--clean", "--if-exists", "--exit-on-error",
                "--single-transaction", f"--dbname={database}", str(file),
            )  # fmt: skip
        if database is None:
            return (program, "--no-psqlrc", "--no-password", "--quiet", *pg_connection(dump),
                    "--dbname=postgres", f"--file={file}")  # fmt: skip
        return (
            program, "--no-psqlrc", "--no-password", "--quiet", "--set=ON_ERROR_STOP=1",
            "--single-transaction", *pg_connection(dump), f"--dbname={database}", f"--file={file}",
        )  # fmt: skip
    assert option_file is not None and is_mysql(dump)
    # The client reads the file (`source`: not --binary-mode, which turns client commands off;
    # --hex-blob dumps need it not). MariaDB's client stops at the first error only when told to
    # (MySQL's has no such option: the restore also watches for ERROR lines).
    stop = ("--abort-source-on-error",) if mariadb_client else ()
    target = (f"--database={database}",) if database is not None else ()
    return (
        program, f"--defaults-extra-file={option_file}", "--batch", *stop, *target,
        f"--execute=source {file}",
    )  # fmt: skip


def query_argv(
    dump: Dump,
    program: str,
    sql: str,
    database: str | None,
    option_file: Path | None = None,
    *,
    connect_timeout: int | None = None,
) -> tuple[str, ...]:
    """Given a server dump, its client (psql, mysql or mariadb), one SQL statement and the database
    to run it in, return the command line that prints the result as bare tab-separated rows."""
    if dump.engine == "postgresql":
        return (
            program, "--no-psqlrc", "--no-password", "--tuples-only", "--no-align", "--field-separator=\t",
            "--set=ON_ERROR_STOP=1", *pg_connection(dump), f"--dbname={database or 'postgres'}",
            f"--command={sql}",
        )  # fmt: skip
    assert option_file is not None and is_mysql(dump)
    timeout = (f"--connect-timeout={connect_timeout}",) if connect_timeout is not None else ()
    target = (f"--database={database}",) if database is not None else ()
    return (
        program, f"--defaults-extra-file={option_file}", "--batch", "--skip-column-names", *timeout,
        *target, f"--execute={sql}",
    )  # fmt: skip


def pg_literal(text: str) -> str:
    """Given text, return it as a PostgreSQL string literal (standard_conforming_strings: a
    backslash is itself)."""
    return "'" + text.replace("'", "''") + "'"


def mysql_literal(text: str) -> str:
    """Given text, return it as a MySQL string literal (a backslash escapes there)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def mysql_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
