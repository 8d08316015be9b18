"""SQLite: dumped and loaded with SQLite's online backup API (Python's `Connection.backup`).

The dump copies every page in one step, inside one read transaction: it is the database as it was
at one moment, whatever the application writes meanwhile (in WAL mode the application goes on
writing; in rollback-journal mode its writers wait, with their busy timeout, until the copy is
done). The database is opened read-only; nothing is written to it. The copy keeps the database's
journal mode; it is read back with `immutable=1`, so that reading a dump never creates `-wal` or
`-shm` files beside it in the backup.

These functions block: the runner calls them in a thread.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from backupplan.dumps.clients import DumpError

BUSY_TIMEOUT = 30.0  # seconds to wait for a writer holding the database locked (rollback journal)
HEADER = b"SQLite format 3\x00"
SQLITE_HINT = "check path; this user must read the database and, in WAL mode, write its folder (-shm)"


def _uri(path: Path, *, immutable: bool = False) -> str:
    return f"file:{quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")


def dump_sqlite(database: Path, target: Path) -> None:
    """Given a SQLite database and an (empty) target file, copy the database into it as one
    consistent snapshot; raise DumpError saying why it cannot."""
    if not database.is_file():
        raise DumpError(f"the database {database} does not exist (or is not a file)")
    try:
        source = sqlite3.connect(_uri(database), uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error as error:
        raise DumpError(f"cannot open {database}: {error}") from None
    try:
        copy = sqlite3.connect(target)
        try:
            # pages=-1: every page in one step, one read transaction; a writer holding the lock makes
            # it wait `sleep` seconds and try again
            source.backup(copy, sleep=0.02)
        finally:
            copy.close()
    except sqlite3.Error as error:
        raise DumpError(f"cannot copy {database}: {error}") from None
    finally:
        source.close()
    with open(target, "rb") as handle:
        if handle.read(len(HEADER)) != HEADER:
            raise DumpError(f"the copy of {database} is not a SQLite database")


def has_tables(database: Path) -> bool:
    """Given a SQLite file, return whether it holds any table, index, view or trigger (a missing or
    empty file holds none); raise DumpError when it is not a database."""
    if not database.exists() or database.stat().st_size == 0:
        return False
    try:
        connection = sqlite3.connect(_uri(database), uri=True, timeout=BUSY_TIMEOUT)
        try:
            row = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise DumpError(f"{database} is not a SQLite database that can be read: {error}") from None
    return bool(row[0])


def load_sqlite(dump: Path, database: Path) -> None:
    """Given a SQLite dump and the database to load it into (made when missing), replace the
    database's content with the dump's, in one step; raise DumpError saying why it cannot."""
    if not database.parent.is_dir():
        raise DumpError(f"cannot restore into {database}: the folder {database.parent} does not exist")
    try:
        source = sqlite3.connect(_uri(dump, immutable=True), uri=True)
        try:
            target = sqlite3.connect(database, timeout=BUSY_TIMEOUT)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as error:
        raise DumpError(f"cannot load {dump} into {database}: {error}") from None


def describe_sqlite(database: Path) -> str:
    """Given a SQLite database, return `N tables, journal mode wal` after a read-only look; raise
    DumpError saying why it cannot be read."""
    if not database.is_file():
        raise DumpError(f"{database} does not exist (or is not a file)")
    try:
        connection = sqlite3.connect(_uri(database), uri=True, timeout=5.0)
        try:
            tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
            mode = connection.execute("PRAGMA journal_mode").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise DumpError(f"{database} cannot be read: {error}") from None
    return f"{tables[0]} table{'s' if tables[0] != 1 else ''}, journal mode {mode[0]}"
