"""SQLite through the online backup API: a consistent snapshot while a thread writes, loaded back
faithfully, and reading a dump never leaves -wal or -shm files in the backup."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from backupplan.dumps import DumpError
from backupplan.dumps.sqlite import describe_sqlite, dump_sqlite, has_tables, load_sqlite
from tests.dumps.helpers import new_sqlite, sqlite_rows


class Writer(threading.Thread):
    """Writes to `ledger` in transactions that keep its invariant: every transfer moves money
    between two accounts, so the sum of the balances is always 1,000,000 and the row count of
    `moves` equals the number of transactions."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.transactions = 0

    def run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute("PRAGMA synchronous=OFF")  # commits as fast as the CPU allows: no fsync
        while not self.stop.is_set():
            with connection:
                number = self.transactions
                connection.execute("UPDATE accounts SET balance = balance - 7 WHERE id = ?", (number % 10,))
                connection.execute(
                    "UPDATE accounts SET balance = balance + 7 WHERE id = ?", ((number + 3) % 10,)
                )
                connection.execute("INSERT INTO moves (id, note) VALUES (?, ?)", (number, "x" * 500))
            self.transactions += 1
        connection.close()


def ledger(path: Path, *, wal: bool) -> None:
    connection = sqlite3.connect(path)
    if wal:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
    connection.execute("CREATE TABLE moves (id INTEGER PRIMARY KEY, note TEXT)")
    connection.executemany("INSERT INTO accounts VALUES (?, ?)", [(number, 100_000) for number in range(10)])
    connection.executemany(
        "INSERT INTO moves VALUES (?, ?)", [(-number, "y" * 500) for number in range(1, 20_001)]
    )
    connection.commit()
    connection.close()


def consistent(path: Path) -> tuple[int, int]:
    connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        total = connection.execute("SELECT sum(balance) FROM accounts").fetchone()[0]
        moves = connection.execute("SELECT count(*) FROM moves WHERE id >= 0").fetchone()[0]
        check = connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
    assert (total, check) == (1_000_000, "ok")
    return total, moves


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback-journal"])
def test_a_dump_taken_while_a_thread_writes_is_one_consistent_moment(tmp_path: Path, wal: bool) -> None:
    database = tmp_path / "ledger.db"
    ledger(database, wal=wal)
    writer = Writer(database)
    writer.start()
    try:
        time.sleep(0.2)
        dumps = []
        for number in range(3):  # each copy is taken while the writer commits, hundreds a second
            target = tmp_path / f"copy{number}.sqlite"
            target.touch(mode=0o600)
            before = writer.transactions
            dump_sqlite(database, target)
            dumps.append((target, before, writer.transactions))
    finally:
        writer.stop.set()
        writer.join()
    for target, before, after in dumps:
        _, moves = consistent(target)
        # A snapshot between the transactions done before it started and those done after it ended.
        assert before <= moves <= after
    assert writer.transactions > dumps[-1][1]  # the writer really was writing during the dumps
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("copy")) == [
        f"copy{number}.sqlite" for number in range(3)
    ]  # no -wal, no -shm beside the copies


def test_load_replaces_the_content_and_keeps_the_journal_mode(tmp_path: Path) -> None:
    source = tmp_path / "app.db"
    new_sqlite(source, 5, wal=True)
    dump = tmp_path / "backup" / "app.sqlite"
    dump.parent.mkdir()
    dump.touch()
    dump_sqlite(source, dump)
    target = tmp_path / "restored.db"
    assert not has_tables(target)
    load_sqlite(dump, target)
    assert sqlite_rows(target) == [(number, f"row {number}") for number in range(5)]
    assert describe_sqlite(target) == "1 table, journal mode wal"
    assert sorted(os.listdir(dump.parent)) == ["app.sqlite"]  # reading the dump left nothing beside it


def test_what_cannot_be_read_says_why(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="does not exist"):
        dump_sqlite(tmp_path / "missing.db", tmp_path / "out")
    (tmp_path / "not.db").write_text("this is not a database, just some text that is long enough" * 10)
    with pytest.raises(DumpError, match="cannot copy"):
        dump_sqlite(tmp_path / "not.db", tmp_path / "out")
    with pytest.raises(DumpError, match="not a SQLite database"):
        has_tables(tmp_path / "not.db")
    with pytest.raises(DumpError, match=r"the folder .* does not exist"):
        load_sqlite(tmp_path / "not.db", tmp_path / "no" / "where.db")
