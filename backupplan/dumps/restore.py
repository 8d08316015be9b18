"""`backupplan restore JOB --dump NAME`: a dump read from the backup and loaded into a database
with the matching client (psql or pg_restore, mysql or mariadb, SQLite's backup API).

- The dump comes from the backup, not the source: a local mirror's copy, a snapshot's (the latest
  unless `--snapshot` names one), or, for a remote destination, a copy the command fetches first
  with the job's engine (`file` is None here then).
- The database is the dump's own unless `--to-database` names another (for SQLite: a file). One
  that does not exist is created; one that holds tables is refused unless forced. A dump of every
  database restores each under its own name.
- Forced, the dump replaces the objects it holds (plain PostgreSQL dumps drop each object before
  making it again, MySQL's drop each table, pg_restore gets --clean, SQLite's content is replaced
  as a whole); anything else in the database is left alone.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backupplan.dumps.argv import (
    SYSTEM_DATABASES,
    environment,
    load_argv,
    mysql_identifier,
    mysql_literal,
    pg_identifier,
    pg_literal,
    query_argv,
)
from backupplan.dumps.clients import (
    DumpError,
    client_programs,
    find,
    first_error,
    hint_for,
    is_mariadb_client,
    load_programs,
    option_file,
    require,
)
from backupplan.engines import Outcome
from backupplan.errors import BackupplanError
from backupplan.plan.locations import parse_location, resolve_local
from backupplan.plan.model import Dump, Job
from backupplan.secrets import mask

QUERY_TIMEOUT = 60.0
# Relations in a schema of the user's (not pg_catalog, pg_toast…, information_schema).
PG_RELATIONS = (
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
)


@dataclass(frozen=True)
class DumpRestore:
    """Which dump is loaded, from where, into which database."""

    job_id: str
    dump: Dump
    origin: str  # for people: "dump app of db from snapshot 2026-11-28T020000Z (/mnt/…/app.sql)"
    relative: str  # the dump's path from the top of the backup
    file: Path | None  # the dump in a local backup; None: fetched from a remote one first
    snapshot: str | None
    database: str | None  # None: every database (each under its own name); SQLite: the file

    @property
    def target(self) -> str:
        """The database for people: `database app on 127.0.0.1:5432`, or the SQLite file."""
        if self.dump.engine == "sqlite":
            return str(self.database)
        where = self.dump.socket or self.dump.host or "the local server"
        port = f":{self.dump.port}" if self.dump.port and not self.dump.socket else ""
        what = "every database of the dump" if self.database is None else f"database {self.database}"
        return f"{what} on {where}{port}"


def plan_dump_restore(
    job_id: str,
    job: Job,
    base_dir: Path,
    *,
    name: str,
    snapshot: str | None = None,
    to_database: str | None = None,
) -> DumpRestore:
    """Given a job, the dump's name and what to restore, return the restore; raise DumpError when
    the job has no such dump, the dump is not in the backup, or the target does not fit the dump."""
    from backupplan.snapshots import SnapshotError, read_listing

    dump = next((entry for entry in job.dumps if entry.name == name), None)
    if dump is None:
        names = ", ".join(entry.name for entry in job.dumps) or "none"
        raise DumpError(f"{job_id} has no dump named {name!r} (its dumps: {names})")
    relative = f"{job.dumps_dir}/{dump.file_name}"
    destination = parse_location(job.destination, job.engine, base_dir)
    chosen = None
    if job.snapshots is not None and job.engine == "rsync" and not destination.is_local:
        # Snapshots on a server: the fetch (runner.restore) lists them over ssh and picks this one.
        chosen = snapshot if snapshot not in (None, "latest") else None
        root, origin = destination.path, f"snapshot {chosen or 'latest'}"
    elif job.snapshots is not None and job.engine == "rsync":
        listing = read_listing(Path(destination.path))
        try:
            chosen = listing.resolve(snapshot)
        except SnapshotError as error:
            raise DumpError(str(error)) from None
        root, origin = str(listing.path(chosen)), f"snapshot {chosen}"
    elif snapshot not in (None, "latest"):
        raise DumpError(f"{job_id} keeps no snapshots, only its current copy: leave --snapshot out")
    else:
        root, origin = destination.path, "the current copy"
    file = None
    if destination.is_local:
        file = Path(root) / relative
        if not file.is_file():
            raise DumpError(
                f"there is no dump {name} in {origin} of {job_id} ({file}): has the job run since the "
                "dump was added to it?"
            )
        origin += f" ({file})"
    else:
        origin += f" at {job.destination} ({relative})"
    if dump.engine == "sqlite":
        assert dump.path is not None
        database: str | None = str(Path(to_database).expanduser().absolute()) if to_database else None
        database = database or str(resolve_local(dump.path, base_dir))
    elif dump.everything and to_database is not None:
        raise DumpError(
            f"dump {name} holds every database of its server, each restored under its own name: "
            "leave --to-database out"
        )
    else:
        database = to_database or dump.database
    origin = f"dump {name} of {job_id} from {origin}"
    return DumpRestore(job_id, dump, origin, relative, file, chosen, database)


def load_lines(restore: DumpRestore, file: Path) -> list[str]:
    """What loading the dump runs, for `--dry-run` (masked when printed): the command line, the
    environment variables it gets from the plan, and the checks before it."""
    dump = restore.dump
    if dump.engine == "sqlite":
        return [f"SQLite online backup API: {file} -> {restore.database} (its content replaced as a whole)"]
    program = Path(find(load_programs(dump)) or load_programs(dump)[0]).name
    options = Path("<0600 option file: [client] user, password, host, port, socket>")
    mariadb = program.startswith("mariadb")
    argv = load_argv(dump, program, file, restore.database, options, mariadb_client=mariadb)
    lines = [" ".join(argv)]
    if dump.engine == "postgresql" and dump.password:
        lines.append(f"  with PGPASSWORD={mask(dump.password)} in its environment")
    if restore.database is None:
        lines.append("before that: a look at whether the server holds databases (refused without --force)")
    else:
        lines.append(
            "before that: a look at whether the database exists (made when not) and holds tables "
            "(refused without --force)"
        )
    return lines


def prepare_target(restore: DumpRestore, *, force: bool) -> str:
    """Given a restore, look at its database: make it when it does not exist; raise DumpError when
    it holds tables and `force` is not given, or when the server cannot be reached. Return what was
    found, for people (`empty`, `created`, `not empty: replaced where the dump has the same objects`)."""
    dump = restore.dump
    if dump.engine == "sqlite":
        from backupplan.dumps.sqlite import has_tables

        assert restore.database is not None
        full = has_tables(Path(restore.database))
        _refuse(restore, full, force)
        return "not empty: its content is replaced" if full else "empty"
    with option_file(dump) as options:
        if dump.engine == "postgresql":
            return _prepare_postgresql(restore, force, options)
        return _prepare_mysql(restore, force, options)


def _refuse(restore: DumpRestore, full: bool, force: bool) -> None:
    if full and not force:
        raise DumpError(
            f"{restore.target} is not empty: loading the dump would replace what it holds of the same "
            "name. Pass --force to do that (objects not in the dump are left alone), or restore into "
            "another database with --to-database"
        )


def _query(restore: DumpRestore, sql: str, database: str | None, options: Path | None) -> tuple[bool, str]:
    """Run one statement with the dump's client; return (worked, its output or its first error line)."""
    from backupplan.process.execute import run_short

    dump = restore.dump
    program = require(client_programs(dump), dump.engine)
    argv = query_argv(dump, program, sql, database, options)
    result = run_short(argv, env=environment(dump, os.environ), timeout=QUERY_TIMEOUT)
    if result.exit_code == 0 and not result.timed_out:
        return True, result.stdout.decode("utf-8", "replace").strip()
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    return False, first_error(lines) or ("timed out" if result.timed_out else f"{program} failed")


def _fail(restore: DumpRestore, error: str) -> DumpError:
    return DumpError(f"cannot reach {restore.target}: {mask(error)} ({hint_for(error)})")


def _prepare_postgresql(restore: DumpRestore, force: bool, options: Path | None) -> str:
    if restore.database is None:
        names = ", ".join(pg_literal(name) for name in SYSTEM_DATABASES["postgresql"])
        sql = f"SELECT count(*) FROM pg_database WHERE datname NOT IN ({names})"  # noqa: S608 (quoted)
        worked, text = _query(restore, sql, None, options)
        if not worked:
            raise _fail(restore, text)
        _refuse(restore, int(text or 0) > 0, force)
        return "not empty: the dump's databases are loaded over it" if int(text or 0) else "empty"
    worked, text = _query(restore, PG_RELATIONS, restore.database, options)
    if not worked and "does not exist" in text:
        made, error = _query(restore, f"CREATE DATABASE {pg_identifier(restore.database)}", None, options)
        if not made:
            raise _fail(restore, error)
        return "created"
    if not worked:
        raise _fail(restore, text)
    _refuse(restore, int(text or 0) > 0, force)
    return "not empty: replaced where the dump has the same objects" if int(text or 0) else "empty"


def _prepare_mysql(restore: DumpRestore, force: bool, options: Path | None) -> str:
    if restore.database is None:
        names = ", ".join(mysql_literal(name) for name in SYSTEM_DATABASES["mysql"])
        sql = f"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name NOT IN ({names})"  # noqa: S608
        worked, text = _query(restore, sql, None, options)
        if not worked:
            raise _fail(restore, text)
        _refuse(restore, int(text or 0) > 0, force)
        return "not empty: the dump's databases are loaded over it" if int(text or 0) else "empty"
    database = mysql_literal(restore.database)
    sql = (  # the name is quoted by mysql_literal
        f"SELECT (SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = {database}), "  # noqa: S608
        f"(SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = {database})"
    )
    worked, text = _query(restore, sql, None, options)
    if not worked:
        raise _fail(restore, text)
    exists, tables = (int(value) for value in text.split())
    if not exists:
        made, error = _query(restore, f"CREATE DATABASE {mysql_identifier(restore.database)}", None, options)
        if not made:
            raise _fail(restore, error)
        return "created"
    _refuse(restore, tables > 0, force)
    return "not empty: replaced where the dump has the same tables" if tables else "empty"


@dataclass(frozen=True)
class Loaded:
    """How loading a dump ended."""

    outcome: Outcome
    duration: float
    errors: list[str] = field(default_factory=list)


async def load_dump(
    restore: DumpRestore,
    file: Path,
    *,
    on_output: Callable[[bytes], None] | None = None,
    cancel: asyncio.Event | None = None,
    stop_grace: float = 10.0,
) -> Loaded:
    """Given a restore whose database is ready (`prepare_target`) and the dump file, load it; return
    how it ended (a dump of every database that met errors, like roles that exist, is a warning)."""
    from backupplan.process.execute import run_process

    dump, started = restore.dump, time.monotonic()
    if dump.engine == "sqlite":
        from backupplan.dumps.sqlite import load_sqlite

        assert restore.database is not None
        try:
            await asyncio.to_thread(load_sqlite, file, Path(restore.database))
        except DumpError as error:
            return Loaded(Outcome("fatal", str(error)), time.monotonic() - started)
        return Loaded(Outcome("ok", "loaded"), time.monotonic() - started)
    program = require(load_programs(dump), dump.engine)
    errors: list[str] = []

    def on_stderr(record: bytes) -> None:
        text = record.decode("utf-8", "backslashreplace")
        if "ERROR" in text or "error:" in text:
            errors.append(text.strip())
        if on_output is not None:
            on_output(record)

    with option_file(dump) as options:
        argv = load_argv(
            dump, program, file, restore.database, options, mariadb_client=is_mariadb_client(program)
        )
        try:
            env = environment(dump, os.environ)
            result = await run_process(
                argv, env=env, on_stderr=on_stderr, cancel=cancel, stop_grace=stop_grace
            )
        except BackupplanError as error:
            return Loaded(Outcome("fatal", str(error)), time.monotonic() - started)
    took = time.monotonic() - started
    tool = Path(program).name
    if result.cancelled:
        return Loaded(Outcome("fatal", "stopped on request", "", None, None, "cancel"), took, errors)
    if result.exit_code != 0 or (errors and restore.database is not None):
        message = first_error(errors) or f"{tool} exited {result.exit_code}"
        failed = Outcome("fatal", f"{tool} failed: {message}", hint_for(message), result.exit_code)
        return Loaded(failed, took, errors)
    if errors:
        text = f"{len(errors)} error{'s' if len(errors) != 1 else ''}, the first: {errors[0]}"
        hint = "roles and databases that exist already are reported so"
        return Loaded(Outcome("warning", text, hint), took, errors)
    return Loaded(Outcome("ok", "loaded", "", 0), took, errors)
