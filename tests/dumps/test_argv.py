"""The clients' command lines, environments and option files, exactly; never a password in argv."""

from __future__ import annotations

from pathlib import Path

from backupplan.dumps.argv import (
    dump_argv,
    environment,
    load_argv,
    marker,
    option_file_text,
    query_argv,
)
from backupplan.dumps.clients import first_error, hint_for, parse_version
from backupplan.plan.model import Dump

SECRET = "s3cr#t \"pw\" 'x' \\ end"
OUT = Path("/src/.backupplan-dumps/.app.sql.tmp")


def test_pg_dump_of_one_database_plain_and_custom() -> None:
    dump = Dump(name="app", engine="postgresql", database="app", host="db.lan", port=5433, user="backup",
                password=SECRET, extra_args=["--no-owner"])  # fmt: skip
    assert dump_argv(dump, "pg_dump", OUT) == (
        "pg_dump", "--no-password", "--host=db.lan", "--port=5433", "--username=backup", "--format=plain",
        "--clean", "--if-exists", f"--file={OUT}", "--no-owner", "--dbname=app",
    )  # fmt: skip
    custom = dump.model_copy(update={"format": "custom", "extra_args": []})
    assert dump_argv(custom, "pg_dump", OUT) == (
        "pg_dump", "--no-password", "--host=db.lan", "--port=5433", "--username=backup", "--format=custom",
        f"--file={OUT}", "--dbname=app",
    )  # fmt: skip
    assert marker(dump) == b"-- PostgreSQL database dump complete"
    assert marker(custom) is None


def test_pg_dumpall_over_the_socket() -> None:
    dump = Dump(name="all", engine="postgresql", socket="/run/postgresql")
    assert dump_argv(dump, "pg_dumpall", OUT) == (
        "pg_dumpall",
        "--no-password",
        "--host=/run/postgresql",
        f"--file={OUT}",
    )
    assert marker(dump) == b"-- PostgreSQL database cluster dump complete"


def test_the_postgresql_password_goes_to_the_environment() -> None:
    dump = Dump(name="app", engine="postgresql", database="app", password=SECRET)
    env = environment(dump, {"PATH": "/usr/bin", "PGOPTIONS": "-c work_mem=64MB"})
    assert env == {
        "PATH": "/usr/bin",
        "PGPASSWORD": SECRET,
        "PGCONNECT_TIMEOUT": "30",
        "PGAPPNAME": "backupplan",
        "PGOPTIONS": "-c work_mem=64MB -c client_min_messages=warning",
    }
    without = environment(
        Dump(name="app", engine="postgresql"), {"PGPASSWORD": "from-the-env"}, connect_timeout=1
    )
    assert without["PGPASSWORD"] == "from-the-env" and without["PGCONNECT_TIMEOUT"] == "2"
    for argv in (dump_argv(dump, "pg_dump", OUT), load_argv(dump, "psql", OUT, "app")):
        assert not any(SECRET in argument for argument in argv)


def test_mysqldump_reads_an_option_file() -> None:
    dump = Dump(name="shop", engine="mariadb", database="shop", host="127.0.0.1", port=3307, user="backup",
                password=SECRET)  # fmt: skip
    options = Path("/tmp/x/client.cnf")
    assert dump_argv(dump, "mariadb-dump", OUT, options) == (
        "mariadb-dump", "--defaults-extra-file=/tmp/x/client.cnf", "--single-transaction", "--routines",
        "--events", "--hex-blob", "--skip-dump-date", f"--result-file={OUT}", "shop",
    )  # fmt: skip
    everything = Dump(name="all", engine="mysql", socket="/run/mysqld/mysqld.sock")
    assert dump_argv(everything, "mysqldump", OUT, options)[-1] == "--all-databases"
    assert option_file_text(dump) == (
        '[client]\nuser="backup"\npassword="s3cr#t \\"pw\\" \'x\' \\\\ end"\nhost="127.0.0.1"\nport="3307"\n'
    )
    assert option_file_text(everything) == '[client]\nsocket="/run/mysqld/mysqld.sock"\n'
    assert environment(dump, {"PATH": "/bin"}) == {"PATH": "/bin"}
    assert marker(dump) == b"-- Dump completed"


def test_load_command_lines() -> None:
    file = Path("/backup/.backupplan-dumps/app.sql")
    options = Path("/tmp/x/client.cnf")
    plain = Dump(name="app", engine="postgresql", database="app", port=5433)
    assert load_argv(plain, "psql", file, "copy") == (
        "psql", "--no-psqlrc", "--no-password", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
        "--port=5433", "--dbname=copy", f"--file={file}",
    )  # fmt: skip
    assert load_argv(Dump(name="all", engine="postgresql"), "psql", file, None) == (
        "psql", "--no-psqlrc", "--no-password", "--quiet", "--dbname=postgres", f"--file={file}",
    )  # fmt: skip
    custom = plain.model_copy(update={"format": "custom"})
    assert load_argv(custom, "pg_restore", file, "app") == (
        "pg_restore", "--no-password", "--port=5433", "--clean", "--if-exists", "--exit-on-error",
        "--single-transaction", "--dbname=app", str(file),
    )  # fmt: skip
    shop = Dump(name="shop", engine="mariadb", database="shop")
    assert load_argv(shop, "mariadb", file, "shop2", options) == (
        "mariadb", "--defaults-extra-file=/tmp/x/client.cnf", "--batch", "--abort-source-on-error",
        "--database=shop2", f"--execute=source {file}",
    )  # fmt: skip
    assert "--abort-source-on-error" not in load_argv(shop, "mysql", file, "s", options, mariadb_client=False)


def test_query_command_lines() -> None:
    pg = Dump(name="app", engine="postgresql", database="app", host="h")
    assert query_argv(pg, "psql", "SELECT 1", "app") == (
        "psql", "--no-psqlrc", "--no-password", "--tuples-only", "--no-align", "--field-separator=\t",
        "--set=ON_ERROR_STOP=1", "--host=h", "--dbname=app", "--command=SELECT 1",
    )  # fmt: skip
    my = Dump(name="shop", engine="mysql")
    assert query_argv(my, "mysql", "SELECT 1", None, Path("/o.cnf"), connect_timeout=5) == (
        "mysql", "--defaults-extra-file=/o.cnf", "--batch", "--skip-column-names", "--connect-timeout=5",
        "--execute=SELECT 1",
    )  # fmt: skip


def test_versions_and_error_lines() -> None:
    assert parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n") == "15.18"
    assert (
        parse_version("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu")
        == "10.11.19-MariaDB"
    )
    assert (
        parse_version("mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)") == "8.0.36"
    )
    assert parse_version("something else") is None
    lines = [
        "pg_dump: warning: old server",
        'pg_dump: error: connection to server failed: FATAL:  password authentication failed for user "backup"',
    ]
    assert first_error(["", "  "]) is None
    assert first_error(["just a line"]) == "just a line"
    assert first_error(lines) == lines[1]
    assert hint_for(lines[1]).startswith("check user and password")
    assert hint_for(
        "mariadb-dump: Got error: 2002: \"Can't connect to server on '127.0.0.1' (115)\""
    ).startswith("is the database server running?")
    assert hint_for('FATAL:  database "nope" does not exist').startswith("check database")
