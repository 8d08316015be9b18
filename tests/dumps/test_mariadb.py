"""MariaDB dumps against a real server (tests/databases.py): the round trip through a real
`backupplan run` and `restore --dump`, the password only ever in a 0600 option file (never on a
command line, never in a log), and the failures a run meets (a wrong password, a server that is
down, mariadb-dump killed mid-dump)."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest

from tests.databases import MariaDB
from tests.dumps.helpers import DUMPS, digest, dump_plan, last_finished, log_text
from tests.dumps.processes import find_dumper, wait_until_written
from tests.runner.helpers import start_run

pytestmark = pytest.mark.slow

ROWS = [("1", "alpha"), ("2", "Grüße"), ("3", "it's")]


def entry(server: MariaDB, database: str, name: str = "shop") -> str:
    return (
        f"      - {{name: {name}, engine: mariadb, database: {database}, host: 127.0.0.1, "
        f"port: {server.port}, user: backup, password: '${{DB_PASSWORD}}'}}\n"
    )


def fill(server: MariaDB, database: str) -> None:
    server.sql(
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL) ENGINE=InnoDB;"
        "INSERT INTO items VALUES (1, 'alpha'), (2, 'Grüße'), (3, 'it''s');",
        database,
    )


def items(server: MariaDB, database: str) -> list[tuple[str, ...]]:
    output = server.sql("SELECT id, name FROM items ORDER BY id", database)
    return [tuple(line.split("\t")) for line in output.splitlines() if line]


def backupplan(
    run_backupplan, plan: Path, server: MariaDB, *args: str, code: int = 0, password: str | None = None
):  # type: ignore[no-untyped-def]
    done = run_backupplan(
        [args[0], "--plan", str(plan), *args[1:]],
        env={"DB_PASSWORD": password or server.password},
        timeout=180,
    )
    assert done.returncode == code, done.stdout + done.stderr
    return done


def test_round_trip(tmp_path: Path, run_backupplan, mariadb: MariaDB, mariadb_database: str) -> None:  # type: ignore[no-untyped-def]
    fill(mariadb, mariadb_database)
    plan = dump_plan(tmp_path, entry(mariadb, mariadb_database))
    backupplan(run_backupplan, plan, mariadb, "run", "db")
    (record,) = last_finished(tmp_path)["dumps"]
    assert (record["name"], record["engine"], record["tool"], record["status"]) == (
        "shop", "mariadb", "mariadb-dump", "succeeded",
    )  # fmt: skip
    assert record["version"].endswith("-MariaDB")
    text = (tmp_path / "out" / DUMPS / "shop.sql").read_text()
    assert text.rstrip().endswith("-- Dump completed")  # --skip-dump-date: no date, an unchanged
    backupplan(run_backupplan, plan, mariadb, "run", "db")  # database gives the same file
    assert last_finished(tmp_path)["dumps"][0]["status"] == "unchanged"

    mariadb.sql("UPDATE items SET name = 'changed'; INSERT INTO items VALUES (4, 'new')", mariadb_database)
    refused = backupplan(run_backupplan, plan, mariadb, "restore", "db", "--dump", "shop", code=1)
    assert "is not empty" in refused.stderr
    backupplan(run_backupplan, plan, mariadb, "restore", "db", "--dump", "shop", "--force")
    assert items(mariadb, mariadb_database) == ROWS
    copy = mariadb_database + "_copy"
    try:
        done = backupplan(
            run_backupplan, plan, mariadb, "restore", "db", "--dump", "shop", "--to-database", copy
        )
        assert "The database: created" in done.stdout
        assert items(mariadb, copy) == ROWS
    finally:
        mariadb.drop_database(copy)


def test_the_password_is_only_in_a_private_option_file(
    tmp_path: Path, run_backupplan, mariadb: MariaDB, mariadb_database: str
) -> None:  # type: ignore[no-untyped-def]
    """While mariadb-dump runs: its command line names an option file (0600, in a 0700 folder) and
    holds no password; after the run the file is gone; the log never shows the password. Killed
    mid-dump, the previous dump stays."""
    fill(mariadb, mariadb_database)
    plan = dump_plan(tmp_path, entry(mariadb, mariadb_database))
    backupplan(run_backupplan, plan, mariadb, "run", "db")
    dump = tmp_path / "src" / DUMPS / "shop.sql"
    kept = digest(dump)
    mariadb.sql(
        "CREATE TABLE big (id INT PRIMARY KEY, note TEXT) ENGINE=InnoDB; "
        "INSERT INTO big SELECT seq, CONCAT(MD5(seq), REPEAT('x', 100)) FROM seq_1_to_1000000;",
        mariadb_database,
    )
    running = start_run(plan, "db", env={"DB_PASSWORD": mariadb.password})
    try:
        temp = dump.with_name(".shop.sql.tmp")
        pid, argv = find_dumper("mariadb-dump", str(temp))
        assert not any(mariadb.password in part for part in argv)
        options = Path(argv[1].removeprefix("--defaults-extra-file="))
        assert argv[1].startswith("--defaults-extra-file=") and "--single-transaction" in argv
        assert stat.S_IMODE(options.stat().st_mode) == 0o600
        assert stat.S_IMODE(options.parent.stat().st_mode) == 0o700
        assert f'password="{mariadb.password}"' in options.read_text()
        wait_until_written(temp, 1 << 20)
        os.kill(pid, signal.SIGKILL)
        out, err = running.communicate(timeout=120)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 1, out + err
    assert last_finished(tmp_path)["reason"] == (
        "dump shop failed: mariadb-dump was killed by signal 9: the transfer was skipped (something stopped "
        "the dump program: see the run's log)"
    )
    assert not options.exists() and not options.parent.exists()
    assert digest(dump) == kept and os.listdir(dump.parent) == ["shop.sql"]
    assert mariadb.password not in log_text(tmp_path) + out + err


def test_a_wrong_password_and_a_server_that_is_down(
    tmp_path: Path, run_backupplan, mariadb: MariaDB, mariadb_database: str
) -> None:  # type: ignore[no-untyped-def]
    plan = dump_plan(tmp_path, entry(mariadb, mariadb_database))
    wrong = "wrong-password-1234"
    backupplan(run_backupplan, plan, mariadb, "run", "db", code=1, password=wrong)
    assert last_finished(tmp_path)["reason"] == (
        "dump shop failed: mariadb-dump: Got error: 1045: \"Access denied for user 'backup'@'127.0.0.1' "
        '(using password: YES)" when trying to connect: the transfer was skipped (check user and password '
        "(password: ${VAR} in the plan, set where backupplan runs))"
    )
    assert wrong not in log_text(tmp_path)
    doctor = run_backupplan(["doctor", "--plan", str(plan), "--json"], env={"DB_PASSWORD": wrong})
    check = next(item for item in json.loads(doctor.stdout)["checks"] if item["name"] == "db.dump.shop")
    assert check["status"] == "fail"
    assert (
        "ERROR 1045 (28000): Access denied for user 'backup'@'127.0.0.1' (using password: YES)"
        in check["message"]
    )

    mariadb.stop()
    try:
        backupplan(run_backupplan, plan, mariadb, "run", "db", code=1)
        # (111): connection refused; (115): the same, seen while the connection was in progress
        assert last_finished(tmp_path)["reason"].startswith(
            "dump shop failed: mariadb-dump: Got error: 2002: \"Can't connect to server on '127.0.0.1' (11"
        )
        doctor = run_backupplan(["doctor", "--plan", str(plan)], env={"DB_PASSWORD": mariadb.password})
        assert (
            "FAIL  db: dump shop (mariadb): ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (11"
            in (doctor.stdout)
        )
        assert "is the database server running?" in doctor.stdout
    finally:
        mariadb.start()
