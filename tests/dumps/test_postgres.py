"""PostgreSQL dumps against a real server (tests/databases.py): the round trip through a real
`backupplan run` and `restore --dump`, pg_dumpall, and every failure a run meets (a wrong password,
a server that is down, pg_dump killed mid-dump, backupplan itself killed or stopped mid-dump):
the reason names the dump and pg_dump's error, the previous dump stays intact, and the password is
never on a command line or in a log."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.databases import Postgres
from tests.dumps.helpers import DUMPS, digest, dump_plan, last_finished, log_text
from tests.dumps.processes import find_dumper, wait_until_written
from tests.runner.helpers import of_type, pid_alive, start_run, wait_for

pytestmark = pytest.mark.slow

ROWS = [("1", "alpha"), ("2", "Grüße"), ("3", "it's")]


def entry(server: Postgres, database: str, name: str = "app", extra: str = "") -> str:
    return (
        f"      - {{name: {name}, engine: postgresql, database: {database}, host: 127.0.0.1, "
        f"port: {server.port}, user: backup, password: '${{DB_PASSWORD}}'{extra}}}\n"
    )


def fill(server: Postgres, database: str) -> None:
    server.psql(
        "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);"
        "INSERT INTO items VALUES (1, 'alpha'), (2, 'Grüße'), (3, 'it''s');",
        database,
    )


def items(server: Postgres, database: str) -> list[tuple[str, ...]]:
    output = server.psql("SELECT id, name FROM items ORDER BY id", database)
    return [tuple(line.split("\t")) for line in output.splitlines() if line]


def big_table(server: Postgres, database: str, rows: int = 1_500_000) -> None:
    """About 200 MB of dump: pg_dump takes long enough to be caught in the middle."""
    server.psql(
        f"CREATE TABLE big AS SELECT g AS id, md5(g::text) || repeat('x', 100) AS note "
        f"FROM generate_series(1, {rows}) g",
        database,
    )


def backupplan(
    run_backupplan, plan: Path, server: Postgres, *args: str, code: int = 0, password: str | None = None
):  # type: ignore[no-untyped-def]
    done = run_backupplan(
        [args[0], "--plan", str(plan), *args[1:]],
        env={"DB_PASSWORD": password or server.password},
        timeout=180,
    )
    assert done.returncode == code, done.stdout + done.stderr
    return done


def test_round_trip_plain_and_custom(
    tmp_path: Path, run_backupplan, postgres: Postgres, postgres_database: str
) -> None:  # type: ignore[no-untyped-def]
    fill(postgres, postgres_database)
    plan = dump_plan(
        tmp_path,
        entry(postgres, postgres_database) + entry(postgres, postgres_database, "packed", ", format: custom"),
    )
    backupplan(run_backupplan, plan, postgres, "run", "db")
    dumps = last_finished(tmp_path)["dumps"]
    assert [(item["name"], item["tool"], item["file"], item["status"]) for item in dumps] == [
        ("app", "pg_dump", f"{DUMPS}/app.sql", "succeeded"),
        ("packed", "pg_dump", f"{DUMPS}/packed.dump", "succeeded"),
    ]
    assert dumps[0]["version"].split(".")[0] == postgres.version
    assert dumps[0]["bytes"] == (tmp_path / "out" / DUMPS / "app.sql").stat().st_size > 0
    assert (tmp_path / "out" / DUMPS / "app.sql").read_text().count(
        "-- PostgreSQL database dump complete"
    ) == 1

    postgres.psql("UPDATE items SET name = 'changed'; INSERT INTO items VALUES (4, 'new')", postgres_database)
    refused = backupplan(run_backupplan, plan, postgres, "restore", "db", "--dump", "app", code=1)
    assert f"database {postgres_database} on 127.0.0.1:{postgres.port} is not empty" in refused.stderr
    dry = backupplan(run_backupplan, plan, postgres, "restore", "db", "--dump", "app", "--dry-run")
    assert "with PGPASSWORD=${DB_PASSWORD} in its environment" in dry.stdout
    assert f"--dbname={postgres_database} --file={tmp_path / 'out' / DUMPS / 'app.sql'}" in dry.stdout
    assert postgres.password not in dry.stdout
    backupplan(run_backupplan, plan, postgres, "restore", "db", "--dump", "app", "--force")
    assert items(postgres, postgres_database) == ROWS

    copy = postgres_database + "_copy"
    try:
        done = backupplan(
            run_backupplan, plan, postgres, "restore", "db", "--dump", "packed", "--to-database", copy
        )
        assert "The database: created" in done.stdout
        assert items(postgres, copy) == ROWS
        postgres.psql("DELETE FROM items WHERE id = 1", copy)
        backupplan(
            run_backupplan,
            plan,
            postgres,
            "restore",
            "db",
            "--dump",
            "packed",
            "--to-database",
            copy,
            "--force",
        )
        assert items(postgres, copy) == ROWS
    finally:
        postgres.drop_database(copy)


def test_pg_dumpall_round_trip(
    tmp_path: Path, run_backupplan, postgres: Postgres, postgres_database: str
) -> None:  # type: ignore[no-untyped-def]
    fill(postgres, postgres_database)
    plan = dump_plan(
        tmp_path,
        f"      - {{name: all, engine: postgresql, socket: {postgres.socket_dir}, port: {postgres.port}, "
        "user: backup, password: '${DB_PASSWORD}'}\n",
    )
    backupplan(run_backupplan, plan, postgres, "run", "db")
    (record,) = last_finished(tmp_path)["dumps"]
    assert (record["tool"], record["status"]) == ("pg_dumpall", "succeeded")
    dump = (tmp_path / "out" / DUMPS / "all.sql").read_text()
    assert (
        "-- PostgreSQL database cluster dump complete" in dump
        and f"CREATE DATABASE {postgres_database}" in dump
    )
    postgres.drop_database(postgres_database)
    done = backupplan(run_backupplan, plan, postgres, "restore", "db", "--dump", "all", "--force")
    # The role `backup` exists already: reported, the rest is loaded.
    assert (
        "Warning: 1 error, the first: psql:" in done.stdout and 'role "backup" already exists' in done.stdout
    )
    assert items(postgres, postgres_database) == ROWS


def test_a_wrong_password_fails_the_run_and_keeps_the_previous_dump(
    tmp_path: Path, run_backupplan, postgres: Postgres, postgres_database: str
) -> None:  # type: ignore[no-untyped-def]
    fill(postgres, postgres_database)
    plan = dump_plan(tmp_path, entry(postgres, postgres_database))
    backupplan(run_backupplan, plan, postgres, "run", "db")
    dump = tmp_path / "src" / DUMPS / "app.sql"
    kept = digest(dump)
    wrong = "wrong-password-1234"
    done = backupplan(run_backupplan, plan, postgres, "run", "db", code=1, password=wrong)
    data = last_finished(tmp_path)
    assert data["status"] == "failed"
    assert data["reason"] == (
        f'dump app failed: pg_dump: error: connection to server at "127.0.0.1", port {postgres.port} failed: '
        'FATAL:  password authentication failed for user "backup": the transfer was skipped (check user and '
        "password (password: ${VAR} in the plan, set where backupplan runs))"
    )
    assert data["dumps"][0]["status"] == "failed" and data["dumps"][0]["tool"] == "pg_dump"
    assert digest(dump) == kept and os.listdir(dump.parent) == ["app.sql"]
    assert len(of_type(tmp_path / ".backupplan", "run.attempt")) == 1  # the second run did not transfer
    logs = log_text(tmp_path) + done.stdout + done.stderr
    assert wrong not in logs and postgres.password not in logs

    doctor = run_backupplan(["doctor", "--plan", str(plan), "--json"], env={"DB_PASSWORD": wrong})
    check = next(item for item in json.loads(doctor.stdout)["checks"] if item["name"] == "db.dump.app")
    assert check["status"] == "fail"
    assert 'password authentication failed for user "backup"' in check["message"]
    assert check["hint"].startswith("check user and password")
    doctor = run_backupplan(["doctor", "--plan", str(plan), "--json"], env={"DB_PASSWORD": postgres.password})
    checks = {item["name"]: item for item in json.loads(doctor.stdout)["checks"]}
    assert checks["db.dump.app"]["status"] == "ok"
    assert checks["db.dump.app"]["message"].startswith(
        f"db: dump app (postgresql): PostgreSQL {postgres.version}."
    )
    assert checks["pg_dump"]["status"] == "ok" and checks["pg_dump"]["facts"]["needed_by"] == ["db.app"]


def test_a_server_that_is_down(
    tmp_path: Path, run_backupplan, postgres: Postgres, postgres_database: str
) -> None:  # type: ignore[no-untyped-def]
    plan = dump_plan(tmp_path, entry(postgres, postgres_database))
    postgres.stop()
    try:
        backupplan(run_backupplan, plan, postgres, "run", "db", code=1)
        reason = last_finished(tmp_path)["reason"]
        assert reason.startswith(
            f'dump app failed: pg_dump: error: connection to server at "127.0.0.1", port {postgres.port} failed: '
            "Connection refused"
        )
        assert reason.endswith("(is the database server running? check host, port and socket)")
        doctor = run_backupplan(["doctor", "--plan", str(plan)], env={"DB_PASSWORD": postgres.password})
        assert "FAIL  db: dump app (postgresql): psql: error: connection to server at" in doctor.stdout
        assert "Connection refused" in doctor.stdout
    finally:
        postgres.start()


def test_pg_dump_killed_mid_dump_keeps_the_previous_dump(
    tmp_path: Path, run_backupplan, postgres: Postgres, postgres_database: str
) -> None:  # type: ignore[no-untyped-def]
    fill(postgres, postgres_database)
    plan = dump_plan(tmp_path, entry(postgres, postgres_database))
    backupplan(run_backupplan, plan, postgres, "run", "db")
    dump = tmp_path / "src" / DUMPS / "app.sql"
    kept = digest(dump)
    big_table(postgres, postgres_database)
    running = start_run(plan, "db", env={"DB_PASSWORD": postgres.password})
    try:
        temp = dump.with_name(".app.sql.tmp")
        pid, argv = find_dumper("pg_dump", str(temp))
        assert not any(postgres.password in part for part in argv)  # what every local user can read
        assert "--no-password" in argv
        wait_until_written(temp, 1 << 20)
        os.kill(pid, signal.SIGKILL)
        out, err = running.communicate(timeout=120)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 1, out + err
    data = last_finished(tmp_path)
    assert data["status"] == "failed"
    assert data["reason"] == (
        "dump app failed: pg_dump was killed by signal 9: the transfer was skipped (something stopped the "
        "dump program: see the run's log)"
    )
    assert digest(dump) == kept and digest(tmp_path / "out" / DUMPS / "app.sql") == kept
    assert os.listdir(dump.parent) == ["app.sql"]  # the partial dump is gone
    assert postgres.password not in log_text(tmp_path)


def test_backupplan_killed_or_stopped_mid_dump(
    tmp_path: Path, run_backupplan, postgres: Postgres, postgres_database: str
) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL of `backupplan run`: pg_dump dies with it (parent-death signal), the previous dump
    stays, and the next run clears the leftover. SIGTERM: the run is interrupted cleanly."""
    fill(postgres, postgres_database)
    plan = dump_plan(tmp_path, entry(postgres, postgres_database))
    backupplan(run_backupplan, plan, postgres, "run", "db")
    dump = tmp_path / "src" / DUMPS / "app.sql"
    kept = digest(dump)
    temp = dump.with_name(".app.sql.tmp")
    big_table(postgres, postgres_database)

    running = start_run(plan, "db", env={"DB_PASSWORD": postgres.password})
    pid, _ = find_dumper("pg_dump", str(temp))
    wait_until_written(temp, 1 << 20)
    running.kill()
    running.communicate(timeout=30)
    wait_for(lambda: not pid_alive(pid), timeout=10)
    assert digest(dump) == kept and temp.exists()  # a leftover, never taken for the dump

    running = start_run(plan, "db", env={"DB_PASSWORD": postgres.password})
    find_dumper("pg_dump", str(temp))
    wait_until_written(temp, 1 << 20)
    os.killpg(running.pid, signal.SIGTERM)
    out, err = running.communicate(timeout=60)
    assert running.returncode == 130, out + err
    interrupted = of_type(tmp_path / ".backupplan", "run.interrupted", "db")
    assert interrupted and interrupted[-1]["data"]["reason"] == "signal"
    assert digest(dump) == kept and not temp.exists()

    postgres.psql("DROP TABLE big", postgres_database)
    backupplan(run_backupplan, plan, postgres, "run", "db")
    assert last_finished(tmp_path)["dumps"][0]["status"] in ("succeeded", "unchanged")
    assert os.listdir(dump.parent) == ["app.sql"]
