"""Plans with dumps, and what a run of them left behind."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from tests.runner.helpers import of_type, write_plan

DUMPS = ".backupplan-dumps"


def dump_plan(folder: Path, dumps: str, *, job: str = "db", extra: str = "", engine: str = "rsync") -> Path:
    """Write a plan whose job `job` copies `folder/src` to `folder/out` after the dumps `dumps` (a
    YAML list indented for the job's `dumps:` key)."""
    (folder / "src").mkdir(exist_ok=True)
    return write_plan(
        folder,
        f"  {job}:\n    engine: {engine}\n    source: src\n    destination: out\n{extra}    dumps:\n{dumps}",
    )


def last_finished(folder: Path, job: str = "db") -> dict[str, Any]:
    """The data of the job's newest run.finished record."""
    return of_type(folder / ".backupplan", "run.finished", job)[-1]["data"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log_text(folder: Path, job: str = "db") -> str:
    """Every run log of the job, newest last."""
    logs = sorted((folder / ".backupplan" / "logs" / job).glob("*.log"))
    return "\n".join(path.read_text() for path in logs)


def new_sqlite(path: Path, rows: int = 10, *, wal: bool = True) -> None:
    """A SQLite database with table `items(id, name)` holding `rows` rows."""
    connection = sqlite3.connect(path)
    if wal:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    connection.executemany(
        "INSERT INTO items VALUES (?, ?)", [(number, f"row {number}") for number in range(rows)]
    )
    connection.commit()
    connection.close()


def sqlite_rows(path: Path) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT id, name FROM items ORDER BY id").fetchall()
    finally:
        connection.close()
