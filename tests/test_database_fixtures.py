"""The PostgreSQL and MariaDB fixtures against the real clients: tables round-trip, pg_dump and
mariadb-dump work with the password out of argv, and every failure a dump job meets (wrong password,
server killed, server stopped) gives the error texts and exit codes the runner will see."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.databases import (  # noqa: F401  (fixtures)
    MariaDB,
    Postgres,
    client_environment,
    mariadb,
    mariadb_database,
    postgres,
    postgres_database,
    read_proc,
    require_mariadb,
    require_postgres,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
ROWS = [("1", "alpha", "1.50"), ("2", "Grüße", "20.00"), ("3", "with 'quote'", "0.00")]


def run(argv: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Given a client command line and its variables, run it with nothing else of ours in the
    environment (no PG*, no MYSQL_*) and no input; return the result."""
    return subprocess.run(
        argv,
        env=client_environment(env),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def report(label: str, done: subprocess.CompletedProcess[str]) -> None:
    """Given a failed client run, print its exit code and stderr (shown with `pytest -s`)."""
    print(f"\n[{label}] exit {done.returncode}: {done.stderr.strip()!r}")


def rows(output: str) -> list[tuple[str, ...]]:
    """Given tab-separated client output, return its rows."""
    return [tuple(line.split("\t")) for line in output.splitlines() if line]


# ---------------------------------------------------------------------------------------------------
# PostgreSQL


def fill_postgres(server: Postgres, database: str) -> None:
    """Given a database, create table `items` with ROWS in it."""
    values = ", ".join(
        f"({id_}, '{name.replace(chr(39), chr(39) * 2)}', {amount})" for id_, name, amount in ROWS
    )
    server.psql(
        "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, amount numeric(10, 2));"
        f"INSERT INTO items VALUES {values};",
        database,
    )


def select_items_postgres(server: Postgres, database: str, *, socket: bool = False) -> list[tuple[str, ...]]:
    """Given a database with `items`, return its rows in id order."""
    return rows(server.psql("SELECT id, name, amount FROM items ORDER BY id", database, socket=socket))


def test_postgres_round_trips_a_table_over_tcp_and_the_socket(
    postgres: Postgres,  # noqa: F811
    postgres_database: str,  # noqa: F811
) -> None:
    fill_postgres(postgres, postgres_database)
    assert select_items_postgres(postgres, postgres_database) == ROWS
    assert select_items_postgres(postgres, postgres_database, socket=True) == ROWS
    # The psql on PATH (Debian's pg_wrapper) with nothing but the environment.
    done = run(
        ["psql", "-X", "-At", "-c", "SELECT count(*) FROM items"], postgres.environment(postgres_database)
    )
    assert (done.returncode, done.stdout.strip()) == (0, "3"), done.stderr
    done = run(["psql", "-X", "-At", "-d", postgres.dsn(postgres_database), "-c", "SELECT current_user"], {})
    assert (done.returncode, done.stdout.strip()) == (0, "backup"), done.stderr
    assert postgres.psql("SELECT rolsuper FROM pg_roles WHERE rolname = 'backup'").strip() == "t"
    assert postgres.psql("SHOW password_encryption").strip() == "scram-sha-256"


def test_pg_dump_takes_the_password_from_the_environment(
    postgres: Postgres,  # noqa: F811
    postgres_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    fill_postgres(postgres, postgres_database)
    env = postgres.environment(postgres_database)
    done = run(["pg_dump", "--no-owner"], env)
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE public.items" in done.stdout
    assert "COPY public.items (id, name, amount) FROM stdin;" in done.stdout
    assert postgres.password not in done.stdout

    restored = postgres.create_database(postgres_database + "_copy")
    try:
        postgres.psql(done.stdout, restored)
        assert select_items_postgres(postgres, restored) == ROWS
    finally:
        postgres.drop_database(restored)

    archive = tmp_path / "dump.pgc"
    done = run(
        ["pg_dump", "--format=custom", f"--file={archive}"],
        postgres.environment(postgres_database, socket=True),
    )
    assert done.returncode == 0, done.stderr
    listing = run(["pg_restore", "--list", str(archive)], {})
    assert listing.returncode == 0, listing.stderr
    assert "TABLE DATA public items" in listing.stdout


def test_pg_dump_with_a_wrong_or_missing_password_fails(
    postgres: Postgres,  # noqa: F811
    postgres_database: str,  # noqa: F811
) -> None:
    env = postgres.environment(postgres_database) | {"PGPASSWORD": "wrong"}
    done = run(["pg_dump"], env)
    report("pg_dump, wrong password, TCP", done)
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        f'pg_dump: error: connection to server at "127.0.0.1", port {postgres.port} failed: '
        'FATAL:  password authentication failed for user "backup"'
    ) in done.stderr

    done = run(["pg_dump"], postgres.environment(postgres_database, socket=True) | {"PGPASSWORD": "wrong"})
    report("pg_dump, wrong password, socket", done)
    assert done.returncode == 1
    socket_path = postgres.socket_dir / f".s.PGSQL.{postgres.port}"
    assert (
        f'connection to server on socket "{socket_path}" failed: FATAL:  password authentication failed'
        in (done.stderr)
    )

    env = postgres.environment(postgres_database)
    del env["PGPASSWORD"]
    done = run(["pg_dump"], env)  # no ~/.pgpass: HOME is the test's scratch folder
    report("pg_dump, no password", done)
    assert done.returncode == 1
    assert "fe_sendauth: no password supplied" in done.stderr
    # Without --no-password pg_dump asks for one ("Password: ", on the terminal when there is one).
    done = run(["pg_dump", "--no-password"], env)
    report("pg_dump --no-password, no password", done)
    assert done.returncode == 1
    assert "Password:" not in done.stderr
    assert "fe_sendauth: no password supplied" in done.stderr

    done = run(
        ["psql", "-X", "-c", "SELECT 1"], postgres.environment(postgres_database) | {"PGPASSWORD": "wrong"}
    )
    report("psql, wrong password", done)
    assert done.returncode == 2
    assert 'password authentication failed for user "backup"' in done.stderr
    assert 'FATAL:  password authentication failed for user "backup"' in postgres.log_text()


def test_pg_dump_against_a_killed_then_stopped_server(
    postgres: Postgres,  # noqa: F811
    postgres_database: str,  # noqa: F811
) -> None:
    fill_postgres(postgres, postgres_database)
    # A session in progress when the server dies: its backend must die too, and the client notices.
    session = subprocess.Popen(
        ["psql", "-X", "-c", "SELECT pg_sleep(60)"],
        env=client_environment(postgres.environment(postgres_database)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while "pg_sleep" not in postgres.psql(
            "SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        ):
            assert time.monotonic() < deadline, "the session never started"
            time.sleep(0.05)
        backends = [process for process in postgres.processes() if "SELECT" in process.command]
        assert backends, postgres.processes()

        postgres.kill()
        assert postgres.processes() == []
        assert not postgres.running
        _out, err = session.communicate(timeout=10)
    finally:
        session.kill()
        session.wait()
    print(f"\n[psql session, server killed] exit {session.returncode}: {err.strip()!r}")
    assert session.returncode == 2
    assert "server closed the connection unexpectedly" in err

    done = run(["pg_dump"], postgres.environment(postgres_database))
    report("pg_dump, server killed, TCP", done)
    assert done.returncode == 1
    assert (
        f'pg_dump: error: connection to server at "127.0.0.1", port {postgres.port} failed: Connection refused'
    ) in done.stderr
    done = run(["pg_dump"], postgres.environment(postgres_database, socket=True))
    report("pg_dump, server killed, socket (stale socket file)", done)
    assert done.returncode == 1
    assert "failed: Connection refused" in done.stderr

    postgres.start()  # crash recovery: the committed rows are back
    assert "database system was interrupted" in postgres.log_text()
    assert select_items_postgres(postgres, postgres_database) == ROWS

    postgres.stop()
    assert postgres.processes() == []
    done = run(["pg_dump"], postgres.environment(postgres_database, socket=True))
    report("pg_dump, server stopped, socket", done)
    assert done.returncode == 1
    assert "failed: No such file or directory" in done.stderr
    postgres.start()
    assert select_items_postgres(postgres, postgres_database) == ROWS


# ---------------------------------------------------------------------------------------------------
# MariaDB


def fill_mariadb(server: MariaDB, database: str) -> None:
    """Given a database, create table `items` (InnoDB) with ROWS in it."""
    values = ", ".join(
        f"({id_}, '{name.replace(chr(39), chr(39) * 2)}', {amount})" for id_, name, amount in ROWS
    )
    server.sql(
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, amount DECIMAL(10, 2)) "
        f"ENGINE=InnoDB; INSERT INTO items VALUES {values};",
        database,
    )


def select_items_mariadb(server: MariaDB, database: str) -> list[tuple[str, ...]]:
    """Given a database with `items`, return its rows in id order."""
    return rows(server.sql("SELECT id, name, amount FROM items ORDER BY id", database))


def test_mariadb_round_trips_a_table_over_tcp_and_the_socket(
    mariadb: MariaDB,  # noqa: F811
    mariadb_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    fill_mariadb(mariadb, mariadb_database)
    assert select_items_mariadb(mariadb, mariadb_database) == ROWS
    query = [
        "--batch",
        "--skip-column-names",
        "-e",
        "SELECT COUNT(*), CURRENT_USER() FROM items",
        mariadb_database,
    ]

    over_socket = mariadb.write_option_file(tmp_path / "socket.cnf", socket=True)
    done = run(["mariadb", f"--defaults-extra-file={over_socket}", *query], {})
    assert (done.returncode, done.stdout.strip()) == (0, "3\tbackup@localhost"), done.stderr

    # Nothing but the environment and --user/--host: MYSQL_PWD and MYSQL_TCP_PORT are read.
    done = run(["mariadb", "--user=backup", "--host=127.0.0.1", *query], mariadb.environment())
    assert (done.returncode, done.stdout.strip()) == (0, "3\tbackup@%"), done.stderr
    done = run(["mariadb-dump", "--user=backup", "--host=127.0.0.1", mariadb_database], mariadb.environment())
    assert done.returncode == 0, done.stderr

    grants = mariadb.sql("SHOW GRANTS FOR 'backup'@'%'")
    assert "GRANT ALL PRIVILEGES ON *.* TO `backup`@`%`" in grants
    # Only the accounts we made: root@localhost has a password now.
    assert sorted(rows(mariadb.sql("SELECT User, Host FROM mysql.user WHERE User <> 'mariadb.sys'"))) == [
        ("backup", "%"),
        ("backup", "localhost"),
        ("root", "localhost"),
    ]
    done = run(
        ["mariadb", "--no-defaults", f"--socket={mariadb.socket}", "--user=root", "-e", "SELECT 1"], {}
    )
    assert (
        done.returncode == 1
        and "Access denied for user 'root'@'localhost' (using password: NO)" in done.stderr
    )


def test_mariadb_dump_single_transaction_with_an_option_file(
    mariadb: MariaDB,  # noqa: F811
    mariadb_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    fill_mariadb(mariadb, mariadb_database)
    options = mariadb.write_option_file(tmp_path / "backup.cnf")
    assert stat.S_IMODE(options.stat().st_mode) == 0o600
    argv = ["mariadb-dump", f"--defaults-extra-file={options}", "--single-transaction", mariadb_database]
    assert mariadb.password not in " ".join(argv)
    done = run(argv, {})
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE `items`" in done.stdout
    assert "INSERT INTO `items` VALUES" in done.stdout
    assert "-- Dump completed" in done.stdout

    restored = mariadb.create_database(mariadb_database + "_copy")
    try:
        mariadb.sql(done.stdout, restored)
        assert select_items_mariadb(mariadb, restored) == ROWS
    finally:
        mariadb.drop_database(restored)


def test_mariadb_dump_with_a_wrong_password_fails(
    mariadb: MariaDB,  # noqa: F811
    mariadb_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    options = mariadb.write_option_file(tmp_path / "wrong.cnf", password="wrong")
    done = run(
        ["mariadb-dump", f"--defaults-extra-file={options}", "--single-transaction", mariadb_database], {}
    )
    report("mariadb-dump, wrong password, TCP", done)
    assert done.returncode == 2
    assert done.stdout == ""
    assert (
        "mariadb-dump: Got error: 1045: \"Access denied for user 'backup'@'127.0.0.1' (using password: YES)\" "
        "when trying to connect"
    ) in done.stderr

    options = mariadb.write_option_file(tmp_path / "wrong-socket.cnf", socket=True, password="wrong")
    done = run(["mariadb-dump", f"--defaults-extra-file={options}", mariadb_database], {})
    report("mariadb-dump, wrong password, socket", done)
    assert done.returncode == 2
    assert "Access denied for user 'backup'@'localhost' (using password: YES)" in done.stderr

    done = run(["mariadb", f"--defaults-extra-file={options}", "-e", "SELECT 1"], {})
    report("mariadb, wrong password, socket", done)
    assert done.returncode == 1
    assert "ERROR 1045 (28000): Access denied for user 'backup'@'localhost'" in done.stderr


def test_mariadb_dump_against_a_killed_then_stopped_server(
    mariadb: MariaDB,  # noqa: F811
    mariadb_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    fill_mariadb(mariadb, mariadb_database)
    tcp = mariadb.write_option_file(tmp_path / "tcp.cnf")
    over_socket = mariadb.write_option_file(tmp_path / "socket.cnf", socket=True)

    mariadb.kill()
    assert mariadb.processes() == []
    done = run(["mariadb-dump", f"--defaults-extra-file={tcp}", "--single-transaction", mariadb_database], {})
    report("mariadb-dump, server killed, TCP", done)
    assert done.returncode == 2
    assert (
        "mariadb-dump: Got error: 2002: \"Can't connect to server on '127.0.0.1' (115)\" when trying to connect"
    ) in done.stderr
    done = run(["mariadb-dump", f"--defaults-extra-file={over_socket}", mariadb_database], {})
    report("mariadb-dump, server killed, socket (stale socket file)", done)
    assert done.returncode == 2
    assert f"Can't connect to local server through socket '{mariadb.socket}' (111)" in done.stderr

    mariadb.start()  # crash recovery: the committed rows are back
    assert select_items_mariadb(mariadb, mariadb_database) == ROWS

    mariadb.stop()
    assert mariadb.processes() == []
    done = run(["mariadb-dump", f"--defaults-extra-file={over_socket}", mariadb_database], {})
    report("mariadb-dump, server stopped, socket", done)
    assert done.returncode == 2
    assert f"Can't connect to local server through socket '{mariadb.socket}' (2)" in done.stderr
    mariadb.start()
    assert select_items_mariadb(mariadb, mariadb_database) == ROWS


# ---------------------------------------------------------------------------------------------------
# The fixtures themselves


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_a_fresh_server_starts_runs_unprivileged_and_leaves_nothing(
    kind: str, record_property: Callable[[str, object], None]
) -> None:
    server: Postgres | MariaDB
    began = time.monotonic()
    server = Postgres(require_postgres()) if kind == "postgres" else MariaDB(require_mariadb())
    try:
        server.start()
        started = time.monotonic() - began
        timings = {key: round(value, 3) for key, value in server.timings.items()}
        print(f"\n[{kind}] ready after {started:.3f}s: {timings}")
        record_property(f"{kind}_startup_seconds", round(started, 3))
        processes = server.processes()
        assert processes
        if os.geteuid() == 0:
            assert server.account is not None and server.account.uid != 0
            for process in processes:
                assert Path(f"/proc/{process.pid}").stat().st_uid == server.account.uid
        # Nothing of the machine's own set-up: no system data folder or socket on the command line.
        for process in processes:
            assert "/var/lib/" not in process.command and "/run/" not in process.command
        stopping = time.monotonic()
        server.stop()
        print(f"[{kind}] stopped in {time.monotonic() - stopping:.3f}s")
        assert server.processes() == []
    finally:
        server.cleanup()
    assert not server.root.exists()
    assert server.processes() == []


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_a_port_taken_before_the_first_start_is_replaced(kind: str) -> None:
    server: Postgres | MariaDB
    server = Postgres(require_postgres()) if kind == "postgres" else MariaDB(require_mariadb())
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", server.port))
            squatter.listen()
            taken = server.port
            server.start()
        assert server.port != taken
        assert "Address already in use" in server.log_text()
        assert server.create_database("after_retry") == "after_retry"
    finally:
        server.cleanup()
    assert server.processes() == []


SCENARIO = """
import json, os, time
from pathlib import Path
import pytest
from tests.databases import mariadb, postgres  # noqa: F401

def test_uses_both(postgres, mariadb):
    Path(os.environ["SERVERS_FILE"]).write_text(json.dumps({
        "roots": [str(postgres.root), str(mariadb.root)],
        "main_pids": [postgres.process.pid, mariadb.process.pid],
        "processes": [process.identity for process in postgres.processes() + mariadb.processes()],
    }))
    if os.environ["SCENARIO"] == "hang":
        time.sleep(300)
    assert False, "this test fails on purpose"
"""


def survivors(servers: dict[str, list[Any]]) -> list[str]:
    """Given what the scenario wrote, return the command lines of its servers' processes (seen by the
    test: the postmaster with its children, mariadbd) that still run, zombies excepted."""
    found = []
    for pid, start in servers["processes"]:
        now = read_proc(pid)
        if now is not None and now.start == start and now.state not in {"Z", "X", "x"}:
            found.append(now.command)
    return found


def start_scenario(tmp_path: Path, scenario: str) -> tuple[subprocess.Popen[str], Path]:
    """Given a scenario (`fail` or `hang`), start pytest on a test using both fixtures in a child
    process; return it and the file where the test writes its servers' folders and pids."""
    require_postgres()
    require_mariadb()
    (tmp_path / "test_scenario.py").write_text(textwrap.dedent(SCENARIO))
    servers_file = tmp_path / "servers.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), SERVERS_FILE=str(servers_file), SCENARIO=scenario)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--rootdir={tmp_path}",
            "test_scenario.py",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    return child, servers_file


def test_the_fixtures_stop_everything_when_a_test_fails(tmp_path: Path) -> None:
    child, servers_file = start_scenario(tmp_path, "fail")
    output, _ = child.communicate(timeout=120)
    assert child.returncode == 1, output
    assert "this test fails on purpose" in output
    servers = json.loads(servers_file.read_text())
    assert len(servers["processes"]) >= 7  # the postmaster, its 5 children, mariadbd
    assert survivors(servers) == []
    assert not any(Path(root).exists() for root in servers["roots"])


def test_the_servers_die_with_a_killed_test_process(tmp_path: Path) -> None:
    """pytest itself SIGKILLed (no teardown at all): setpriv's --pdeathsig kills each server, and
    PostgreSQL's children notice their postmaster's death."""
    child, servers_file = start_scenario(tmp_path, "hang")
    try:
        deadline = time.monotonic() + 120
        while not servers_file.exists() or not servers_file.read_text():
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()[0]
            time.sleep(0.1)
        servers = json.loads(servers_file.read_text())
        assert len(servers["processes"]) >= 7  # the postmaster, its 5 children, mariadbd
        assert len(survivors(servers)) == len(servers["processes"])
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while survivors(servers) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"\n[pytest SIGKILLed] its servers were gone after {15 - (deadline - time.monotonic()):.2f}s")
    try:
        assert survivors(servers) == []
    finally:
        # Nobody tidied up: remove the folders and the SysV segment the postmaster left.
        shm = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
        for row in shm:
            fields = row.split()
            if int(fields[4]) in servers["main_pids"] and fields[6] == "0":
                subprocess.run(["ipcrm", "-m", fields[1]], check=False, capture_output=True)
        for root in servers["roots"]:
            subprocess.run(["rm", "-rf", "--", root], check=False)
