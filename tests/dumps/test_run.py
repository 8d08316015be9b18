"""Dumps in real runs (`backupplan run` as a process, real rsync and rclone) with SQLite, which
needs no server: the round trip through the backup and `restore --dump`, the record of each dump,
failures that skip the transfer and keep the previous dump, and the guard and snapshots with dumps
in the source."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

from backupplan.dumps.sqlite import SQLITE_HINT
from tests.dumps.helpers import DUMPS, digest, dump_plan, last_finished, log_text, new_sqlite, sqlite_rows
from tests.dumps.test_sqlite import Writer, consistent, ledger
from tests.runner.helpers import of_type

NOTES = "      - {name: notes, engine: sqlite, path: notes.db}\n"


def run(run_backupplan, plan: Path, *args: str, code: int = 0, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    done = run_backupplan([args[0], "--plan", str(plan), *args[1:]], env=env)
    assert done.returncode == code, done.stdout + done.stderr
    return done


def test_round_trip_through_the_backup(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    new_sqlite(tmp_path / "notes.db", 10)
    ledger(tmp_path / "ledger.db", wal=True)
    plan = dump_plan(tmp_path, NOTES + "      - {name: ledger, engine: sqlite, path: ledger.db}\n")
    writer = Writer(tmp_path / "ledger.db")
    writer.start()  # the application keeps writing while the run dumps its database
    try:
        run(run_backupplan, plan, "run", "db")
    finally:
        writer.stop.set()
        writer.join()
    dumps = last_finished(tmp_path)["dumps"]
    assert [(item["name"], item["engine"], item["tool"], item["file"], item["status"]) for item in dumps] == [
        ("notes", "sqlite", "sqlite", f"{DUMPS}/notes.sqlite", "succeeded"),
        ("ledger", "sqlite", "sqlite", f"{DUMPS}/ledger.sqlite", "succeeded"),
    ]
    assert dumps[0]["version"] == sqlite3.sqlite_version
    assert dumps[0]["bytes"] == (tmp_path / "src" / DUMPS / "notes.sqlite").stat().st_size
    assert set(dumps[0]) == {"name", "engine", "tool", "version", "file", "bytes", "duration", "status"}
    backup = tmp_path / "out" / DUMPS
    assert sorted(os.listdir(backup)) == ["ledger.sqlite", "notes.sqlite"]  # no temp files, no -wal
    assert (backup / "notes.sqlite").stat().st_mode & 0o777 == 0o600
    assert (backup).stat().st_mode & 0o777 == 0o700
    consistent(backup / "ledger.sqlite")

    with sqlite3.connect(tmp_path / "notes.db") as connection:
        connection.execute("UPDATE items SET name = 'changed'")
        connection.execute("INSERT INTO items VALUES (99, 'new')")
    refused = run(run_backupplan, plan, "restore", "db", "--dump", "notes", code=1)
    assert "is not empty" in refused.stdout + refused.stderr and "--force" in refused.stdout + refused.stderr
    dry = run(run_backupplan, plan, "restore", "db", "--dump", "notes", "--dry-run")
    assert f"SQLite online backup API: {backup / 'notes.sqlite'} -> {tmp_path / 'notes.db'}" in dry.stdout
    assert sqlite_rows(tmp_path / "notes.db")[-1] == (99, "new")  # a dry run changes nothing
    done = run(run_backupplan, plan, "restore", "db", "--dump", "notes", "--force")
    assert f"Restored dump notes into {tmp_path / 'notes.db'}" in done.stdout
    assert sqlite_rows(tmp_path / "notes.db") == [(number, f"row {number}") for number in range(10)]
    copy = tmp_path / "copy.db"
    run(run_backupplan, plan, "restore", "db", "--dump", "notes", "--to-database", str(copy))
    assert sqlite_rows(copy) == sqlite_rows(tmp_path / "notes.db")
    assert sorted(os.listdir(backup)) == ["ledger.sqlite", "notes.sqlite"]  # reading left nothing there

    history = json.loads(run(run_backupplan, plan, "history", "db", "--json").stdout)
    assert history["runs"][0]["dumps"] == dumps
    status = json.loads(run(run_backupplan, plan, "status", "--json").stdout)
    (job,) = status["jobs"]
    assert job["last_run"]["dumps"] == dumps


def test_an_unchanged_database_leaves_the_dump_as_it_was(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    new_sqlite(tmp_path / "notes.db")
    plan = dump_plan(tmp_path, NOTES)
    run(run_backupplan, plan, "run", "db")
    dump = tmp_path / "src" / DUMPS / "notes.sqlite"
    before = dump.stat()
    run(run_backupplan, plan, "run", "db")
    assert last_finished(tmp_path)["dumps"][0]["status"] == "unchanged"
    assert last_finished(tmp_path)["files"] == 0  # nothing to send
    assert (dump.stat().st_ino, dump.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "identical to the last one" in log_text(tmp_path)


def test_a_failing_dump_skips_the_transfer_and_keeps_the_previous_dump(
    tmp_path: Path, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    new_sqlite(tmp_path / "notes.db")
    plan = dump_plan(tmp_path, NOTES + "      - {name: later, engine: sqlite, path: later.db}\n")
    new_sqlite(tmp_path / "later.db")
    run(run_backupplan, plan, "run", "db")
    kept = digest(tmp_path / "src" / DUMPS / "notes.sqlite")
    (tmp_path / "notes.db").rename(tmp_path / "moved.db")
    (tmp_path / "src" / "new.txt").write_text("would be copied\n")
    done = run(run_backupplan, plan, "run", "db", code=1)
    data = last_finished(tmp_path)
    assert data["status"] == "failed"
    assert data["reason"] == (
        f"dump notes failed: the database {tmp_path / 'notes.db'} does not exist (or is not a file): the "
        f"transfer was skipped ({SQLITE_HINT})"
    )
    assert [(item["name"], item["status"]) for item in data["dumps"]] == [
        ("notes", "failed"),
        ("later", "skipped"),
    ]
    assert data["dumps"][0]["reason"].startswith("the database")
    assert "db  failed" in done.stdout
    assert digest(tmp_path / "src" / DUMPS / "notes.sqlite") == kept
    assert not (tmp_path / "out" / "new.txt").exists()  # no transfer
    runs = of_type(tmp_path / ".backupplan", "run.attempt")
    assert len(runs) == 1  # only the first run's transfer
    assert f"the previous dump {tmp_path / 'src' / DUMPS / 'notes.sqlite'} is kept" in log_text(tmp_path)
    assert sorted(os.listdir(tmp_path / "src" / DUMPS)) == ["later.sqlite", "notes.sqlite"]


def test_dumps_rewritten_every_run_are_not_held_by_the_guard(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    entries = ""
    for name in ("a", "b", "c"):
        new_sqlite(tmp_path / f"{name}.db")
        entries += f"      - {{name: {name}, engine: sqlite, path: {name}.db}}\n"
    plan = dump_plan(tmp_path, entries, extra="    delete: true\n")
    run(run_backupplan, plan, "run", "db")
    for name in ("a", "b", "c"):
        with sqlite3.connect(tmp_path / f"{name}.db") as connection:
            connection.execute("INSERT INTO items VALUES (1000, 'more')")
    run(run_backupplan, plan, "run", "db")  # 3 of 3 files rewritten: the dumps, expected
    data = last_finished(tmp_path)
    assert data["status"] == "succeeded" and data["changes"] == {"added": 0, "changed": 3, "deleted": 0}
    # The source's own files are still guarded: 4 rewritten of 7 is over the 50 % limit.
    for number in range(4):
        (tmp_path / "src" / f"f{number}.txt").write_text("v1\n")
    run(run_backupplan, plan, "run", "db")
    for number in range(4):
        (tmp_path / "src" / f"f{number}.txt").write_text("version two\n")
    for name in ("a", "b", "c"):
        with sqlite3.connect(tmp_path / f"{name}.db") as connection:
            connection.execute("INSERT INTO items VALUES (1001, 'more')")
    run(run_backupplan, plan, "run", "db", code=1)
    data = last_finished(tmp_path)
    assert data["status"] == "held" and data["reason"] == "held: 4 of 7 files would be rewritten (limit 50%)"


def test_an_empty_source_is_refused_before_any_dump_is_written(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    """An unmounted disk looks like an empty folder: the dumps must not make it look full."""
    new_sqlite(tmp_path / "notes.db")
    plan = dump_plan(tmp_path, NOTES)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("the last good copy\n")
    run(run_backupplan, plan, "run", "db", code=1)
    assert last_finished(tmp_path)["reason"].startswith(f"refused: the source {tmp_path / 'src'} is empty")
    assert "dumps" not in last_finished(tmp_path)
    assert os.listdir(tmp_path / "src") == []


def test_snapshots_keep_each_dump_and_restore_picks_one(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    new_sqlite(tmp_path / "notes.db", 3)
    plan = dump_plan(tmp_path, NOTES, extra="    snapshots: {}\n")
    run(run_backupplan, plan, "run", "db")
    first = json.loads(run(run_backupplan, plan, "snapshots", "db", "--json").stdout)["snapshots"][0]["id"]
    run(run_backupplan, plan, "run", "db")  # unchanged: the dump is hard-linked into the new snapshot
    with sqlite3.connect(tmp_path / "notes.db") as connection:
        connection.execute("INSERT INTO items VALUES (50, 'later')")
    run(run_backupplan, plan, "run", "db")
    ids = [
        item["id"]
        for item in json.loads(run(run_backupplan, plan, "snapshots", "db", "--json").stdout)["snapshots"]
    ]
    assert len(ids) == 3
    paths = [tmp_path / "out" / ident / DUMPS / "notes.sqlite" for ident in sorted(ids)]
    assert paths[0].stat().st_ino == paths[1].stat().st_ino != paths[2].stat().st_ino
    target = tmp_path / "then.db"
    run(
        run_backupplan,
        plan,
        "restore",
        "db",
        "--dump",
        "notes",
        "--snapshot",
        first,
        "--to-database",
        str(target),
    )
    assert len(sqlite_rows(target)) == 3
    latest = tmp_path / "now.db"
    run(run_backupplan, plan, "restore", "db", "--dump", "notes", "--to-database", str(latest))
    assert sqlite_rows(latest)[-1] == (50, "later")


def test_a_remote_destination_is_fetched_first(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    """An rclone remote (here rclone's local backend, defined in the job's env): the dump is fetched
    with the job's engine into a private folder of the state dir, loaded, then removed."""
    new_sqlite(tmp_path / "notes.db", 4)
    plan = dump_plan(tmp_path, NOTES, engine="rclone", extra="    env: {RCLONE_CONFIG_BOX_TYPE: local}\n")
    plan.write_text(plan.read_text().replace("destination: out", f"destination: 'box:{tmp_path / 'far'}'"))
    run(run_backupplan, plan, "run", "db")
    assert (tmp_path / "far" / DUMPS / "notes.sqlite").is_file()
    target = tmp_path / "restored.db"
    dry = run(
        run_backupplan, plan, "restore", "db", "--dump", "notes", "--to-database", str(target), "--dry-run"
    )
    assert "first fetched with rclone" in dry.stdout
    done = run(run_backupplan, plan, "restore", "db", "--dump", "notes", "--to-database", str(target))
    assert "Fetching .backupplan-dumps/notes.sqlite" in done.stdout
    assert sqlite_rows(target) == [(number, f"row {number}") for number in range(4)]
    assert not list((tmp_path / ".backupplan").glob("dump-restore-*"))


def test_restore_refuses_what_does_not_fit(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    new_sqlite(tmp_path / "notes.db")
    plan = dump_plan(tmp_path, NOTES + "      - {name: all, engine: postgresql}\n")
    unknown = run(run_backupplan, plan, "restore", "db", "--dump", "nope", code=1)
    assert "db has no dump named 'nope' (its dumps: notes, all)" in unknown.stderr
    missing = run(run_backupplan, plan, "restore", "db", "--dump", "notes", code=1)
    assert "there is no dump notes in the current copy of db" in missing.stderr
    both = run(run_backupplan, plan, "restore", "db", "--dump", "notes", "--to", "/tmp/x", code=2)
    assert "--dump loads a database" in both.stderr
    alone = run(run_backupplan, plan, "restore", "db", "--to-database", "x", code=2)
    assert "--to-database goes with --dump" in alone.stderr
    neither = run(run_backupplan, plan, "restore", "db", code=2)
    assert "Missing option '--to'" in neither.stderr
    (tmp_path / "out" / DUMPS).mkdir(parents=True)
    (tmp_path / "out" / DUMPS / "all.sql").write_text("-- a dump of a whole server\n")
    whole = run(run_backupplan, plan, "restore", "db", "--dump", "all", "--to-database", "x", code=1)
    assert "restored under its own name: leave --to-database out" in whole.stderr
    snapshot = run(
        run_backupplan, plan, "restore", "db", "--dump", "notes", "--snapshot", "2026-01-01T000000Z", code=1
    )
    assert "keeps no snapshots" in snapshot.stderr


def test_a_plan_with_a_literal_password_never_shows_it(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    new_sqlite(tmp_path / "notes.db")
    plan = dump_plan(
        tmp_path,
        NOTES + "      - {name: app, engine: postgresql, database: app, host: 127.0.0.1, port: 1,"
        " password: written-out-secret}\n",
    )
    done = run(run_backupplan, plan, "run", "db", code=1)
    assert last_finished(tmp_path)["reason"].startswith(
        "dump app failed: pg_dump: error: connection to server at"
    )
    everything = (
        done.stdout
        + done.stderr
        + log_text(tmp_path)
        + (tmp_path / ".backupplan" / "journal.jsonl").read_text()
    )
    assert "written-out-secret" not in everything
    assert "--password" not in log_text(tmp_path)


FAKE_PG_DUMP = """#!/bin/sh
# Writes the start of a dump and exits 0, as a pg_dump whose output was cut would look.
for argument in "$@"; do
  case "$argument" in --file=*) file="${argument#--file=}" ;; esac
done
printf -- '--\n-- PostgreSQL database dump\n--\nCREATE TABLE public.items (id integer);\nCOPY public.items' > "$file"
exit 0
"""


def test_a_dump_without_its_completion_line_never_replaces_the_previous_one(
    tmp_path: Path, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    """A fake pg_dump (the real one cannot be made to exit 0 with half a dump): exit 0 is not
    enough, the dump must end with pg_dump's completion line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pg_dump"
    fake.write_text(FAKE_PG_DUMP)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    plan = dump_plan(tmp_path, "      - {name: app, engine: postgresql, database: app}\n")
    previous = tmp_path / "src" / DUMPS / "app.sql"
    previous.parent.mkdir(parents=True)
    previous.write_text("-- the last good dump\n")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run(run_backupplan, plan, "run", "db", code=1, env=env)
    data = last_finished(tmp_path)
    assert data["status"] == "failed"
    assert data["reason"] == (
        "dump app failed: the dump is incomplete: its last lines lack '-- PostgreSQL database dump complete': "
        "the transfer was skipped (the dump stopped before its end: see the run's log)"
    )
    assert previous.read_text() == "-- the last good dump\n"
    assert os.listdir(previous.parent) == ["app.sql"]
