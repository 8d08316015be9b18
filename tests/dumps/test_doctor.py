"""`backupplan doctor` on jobs with dumps: the programs they need (with versions), the dumps folder,
and each database (SQLite here; PostgreSQL and MariaDB in test_postgres.py and test_mariadb.py)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backupplan.doctor import Context, diagnose
from backupplan.dumps.sqlite import SQLITE_HINT
from tests.conftest import backupplan_env
from tests.dumps.helpers import dump_plan, new_sqlite


def checks(plan: Path) -> dict[str, tuple[str, str, str | None]]:
    report = diagnose(str(plan), Context(now=datetime.now(UTC), probe_timeout=5))
    return {check.name: (check.status, check.message, check.hint) for check in report.checks}


def test_sqlite_dumps_are_checked(tmp_path: Path) -> None:
    new_sqlite(tmp_path / "notes.db")
    plan = dump_plan(
        tmp_path,
        "      - {name: notes, engine: sqlite, path: notes.db}\n      - {name: gone, engine: sqlite, path: gone.db}\n",
    )
    found = checks(plan)
    assert found["sqlite"] == (
        "ok",
        f"SQLite {sqlite3.sqlite_version} (Python's sqlite3); writes the dumps of db.gone, db.notes",
        None,
    )
    assert found["db.dumps_dir"] == (
        "ok",
        f"db: dumps are written to {tmp_path / 'src' / '.backupplan-dumps'}",
        None,
    )
    assert found["db.dump.notes"] == (
        "ok", f"db: dump notes (sqlite): {tmp_path / 'notes.db'} can be read: 1 table, journal mode wal", None,
    )  # fmt: skip
    assert found["db.dump.gone"] == (
        "fail", f"db: dump gone (sqlite): {tmp_path / 'gone.db'} does not exist (or is not a file)",
        SQLITE_HINT,
    )  # fmt: skip
    assert not (tmp_path / "src" / ".backupplan-dumps").exists()  # doctor writes nothing


def test_missing_programs_are_named_with_their_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    plan = dump_plan(
        tmp_path,
        "      - {name: app, engine: postgresql, database: app}\n      - {name: shop, engine: mariadb}\n",
    )
    found = checks(plan)
    assert found["pg_dump"] == (
        "fail",
        "pg_dump is not installed; it writes the dumps of db.app",
        "install postgresql-client",
    )
    assert found["psql"][0:2] == (
        "warn",
        "psql is not installed; it checks the databases and loads the dumps of db.app",
    )
    assert found["mariadb-dump"] == (
        "fail", "mariadb-dump or mysqldump is not installed; it writes the dumps of db.shop", "install mariadb-client",
    )  # fmt: skip
    assert found["db.dump.app"] == (
        "fail",
        "db: dump app (postgresql): cannot be checked: psql is not installed",
        None,
    )


def test_a_source_that_cannot_take_the_dumps(as_nobody: list[str]) -> None:
    """Run as `nobody`, whose source is root's 0755 folder: the dumps could not be written there."""
    root = Path(tempfile.mkdtemp(prefix="backupplan-dumps-"))  # unlike tmp_path, others may enter it
    try:
        root.chmod(0o755)
        new_sqlite(root / "notes.db")
        plan = dump_plan(root, "      - {name: notes, engine: sqlite, path: notes.db}\n")
        done = subprocess.run(
            [*as_nobody, sys.executable, "-m", "backupplan", "doctor", "--plan", str(plan), "--json"],
            env=backupplan_env({"HOME": str(root)}), capture_output=True, text=True, check=False, cwd="/",
        )  # fmt: skip
        found = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
        assert found["db.dumps_dir"]["status"] == "fail"
        assert (
            found["db.dumps_dir"]["message"]
            == f"db: the dumps cannot be written: {root / 'src'} is not a writable folder"
        )
        # A WAL database is read through its -shm file, which nobody may create in root's folder.
        assert found["db.dump.notes"]["status"] == "fail"
        assert found["db.dump.notes"]["message"].endswith(
            "cannot be read: attempt to write a readonly database"
        )
    finally:
        shutil.rmtree(root)
