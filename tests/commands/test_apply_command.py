"""`backupplan apply`: end to end with the real rsync on local folders."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import backupplan_env
from tests.trees import build, describe

FILES = {b"a.txt": b"alpha\n", b"sub/b.txt": b"beta\n", b"sub/deeper/c.bin": b"\x00" * 4096}


def write_plan(root: Path, jobs: dict[str, str], extra: str = "") -> Path:
    lines = [
        "version: 1",
        "settings:",
        "  timezone: UTC",
        "  retries: {attempts: 1, backoff: 1s, max_backoff: 1m}",
    ]
    lines += ["jobs:"]
    for name, schedule in jobs.items():
        lines += [
            f"  {name}:",
            "    engine: rsync",
            f"    source: data/{name}",
            f"    destination: backup/{name}",
            f'    schedule: "{schedule}"',
        ]
    path = root / "backups.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def records(root: Path) -> list[dict[str, Any]]:
    lines = (root / ".backupplan" / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def three(tmp_path: Path) -> Path:
    for name in ("photos", "documents", "music"):
        build(tmp_path / "data" / name, {**FILES, f"{name}.txt".encode(): name.encode()})
    (tmp_path / "backup").mkdir()
    return write_plan(tmp_path, {"photos": "0 2 * * *", "documents": "every 6h", "music": "@weekly"})


def test_first_apply_runs_every_job_then_nothing_is_due(three: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = three.parent
    first = cli(["apply", "-p", str(three)])
    assert first.code == 0, first.err
    assert "has never been applied; applying it records these jobs:" in first.out
    assert "Due now (3 of 3 jobs):" in first.out
    assert f"Recorded {three} as the applied plan (sha256:" in first.out
    assert "3 of 3 jobs succeeded." in first.out
    for name in ("photos", "documents", "music"):
        assert describe(root / "backup" / name) == describe(root / "data" / name)
    found = records(root)
    assert [record["type"] for record in found if record["type"] == "plan.applied"] == ["plan.applied"]
    started = [record for record in found if record["type"] == "run.started"]
    assert sorted((record["job"], record["data"]["trigger"]) for record in started) == [
        ("documents", "apply"),
        ("music", "apply"),
        ("photos", "apply"),
    ]
    finished = [record["data"]["status"] for record in found if record["type"] == "run.finished"]
    assert finished == ["succeeded"] * 3
    assert (
        json.loads((root / ".backupplan" / "applied.json").read_text())["digest"]
        == found[0]["data"]["digest"]
    )

    second = cli(["apply", "-p", str(three)])
    assert (second.code, second.out) == (0, "No changes. Nothing is due.\n")
    assert len(records(root)) == len(found)  # nothing was written


def test_a_removed_job_keeps_its_destination_and_history(three: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = three.parent
    assert cli(["apply", "-p", str(three)]).code == 0
    before = describe(root / "backup" / "music")
    write_plan(root, {"photos": "0 2 * * *", "documents": "every 6h"})
    result = cli(["apply", "-p", str(three)])
    assert result.code == 0, result.err
    assert "  - music  (removed: its history is kept and its destination is left untouched)" in result.out
    assert "Plan: 0 to add, 0 to change, 1 to remove." in result.out
    assert "Nothing is due." in result.out
    assert describe(root / "backup" / "music") == before
    assert [record["job"] for record in records(root) if record["type"] == "job.removed"] == ["music"]
    history = cli(["history", "music", "-p", str(three)])
    assert history.code == 0 and "1 run of music" in history.out
    status = cli(["status", "-p", str(three), "--json"])
    music = next(job for job in json.loads(status.out)["jobs"] if job["id"] == "music")
    assert (music["status"], music["runs"]) == ("removed", 1)


def test_dry_run_writes_nothing(three: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = three.parent
    result = cli(["apply", "--dry-run", "-p", str(three)])
    assert result.code == 0, result.err
    assert "Due now (3 of 3 jobs):" in result.out
    assert (
        f"$ rsync --archive --numeric-ids --partial-dir={root}/backup/photos/.backupplan-partial"
        in result.out
    )
    assert result.out.endswith("Dry run: nothing was recorded or run.\n")
    assert not (root / ".backupplan").exists()
    assert list((root / "backup").iterdir()) == []


def test_a_failed_run_exits_1_and_is_retried_later(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(tmp_path, {"photos": "0 2 * * *"})  # no source folder: rsync exits 23
    (tmp_path / "backup").mkdir()
    result = cli(["apply", "-p", str(plan)])
    assert result.code == 1
    assert "0 of 1 job succeeded." in result.out
    notes = [record["data"] for record in records(tmp_path) if record["type"] == "job.note"]
    assert notes[-1]["retry"]["failures"] == 1
    again = cli(["plan", "-p", str(plan)])
    assert "  photos  waiting to retry at " in again.out


def test_apply_defers_to_a_running_daemon(three: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    root = three.parent
    (root / ".backupplan").mkdir(mode=0o700)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DAEMON_LOCK, str(root / ".backupplan"), str(root / "hup")],
        env=backupplan_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        result = run_backupplan(["apply", "-p", str(three)])
        assert result.returncode == 0, result.stderr
        assert (
            f"A backupplan daemon (pid {holder.pid}) runs this plan: it was asked to reload it"
            in result.stdout
        )
        deadline = time.monotonic() + 5
        while not (root / "hup").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (root / "hup").read_text() == "SIGHUP"
        assert not (root / "backup" / "photos").exists()  # apply ran nothing itself
    finally:
        holder.kill()
        holder.wait(timeout=5)


HOLD_DAEMON_LOCK = """
import signal, sys, time
from pathlib import Path
from backupplan.journal import DAEMON_LOCK, StateLock
lock = StateLock(Path(sys.argv[1]), DAEMON_LOCK).acquire()
signal.signal(signal.SIGHUP, lambda *_: Path(sys.argv[2]).write_text("SIGHUP"))
print("locked", flush=True)
time.sleep(30)
"""


@pytest.mark.slow
def test_network_check_skips_then_the_retry_succeeds(tmp_path: Path, rsync_daemon, cli) -> None:  # type: ignore[no-untyped-def]
    import socket

    build(tmp_path / "data", FILES)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    plan = tmp_path / "backups.yaml"
    plan.write_text(
        "version: 1\n"
        "settings:\n"
        "  timezone: UTC\n"
        "  retries: {attempts: 1, backoff: 1s, max_backoff: 1s}\n"
        f"  network_check: {{target: '127.0.0.1:{port}', interval: 100ms, timeout: 600ms}}\n"
        "jobs:\n"
        "  offsite:\n"
        "    engine: rsync\n"
        "    source: data\n"
        f"    destination: {rsync_daemon.url('offsite/')}\n"
        "    schedule: '0 2 * * *'\n"
    )
    down = cli(["apply", "-p", str(plan)])
    assert down.code == 1
    assert (
        f"offsite: skipped: the network did not answer: 127.0.0.1:{port} did not answer for 0.6s" in down.out
    )
    skipped = [record for record in records(tmp_path) if record["type"] == "run.skipped"]
    assert [(record["job"], record["data"]["reason"]) for record in skipped] == [("offsite", "network")]
    assert not (rsync_daemon.module / "offsite").exists()

    with socket.socket() as listener:  # the "network" is back
        listener.bind(("127.0.0.1", port))
        listener.listen()
        time.sleep(1.1)  # the retry time (max_backoff 1s) has come
        planned = cli(["plan", "-p", str(plan)])
        assert "  offsite  retry: the last run did not succeed (1 in a row)" in planned.out
        up = cli(["apply", "-p", str(plan)])
    assert up.code == 0, up.out + up.err
    assert describe(rsync_daemon.module / "offsite") == describe(tmp_path / "data")
    started = [record["data"]["trigger"] for record in records(tmp_path) if record["type"] == "run.started"]
    assert started == ["catch_up"]


@pytest.mark.slow
def test_network_check_waits_for_a_listener(tmp_path: Path, rsync_daemon, cli) -> None:  # type: ignore[no-untyped-def]
    import socket
    import threading

    build(tmp_path / "data", FILES)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = int(listener.getsockname()[1])
        plan = tmp_path / "backups.yaml"
        plan.write_text(
            "version: 1\nsettings:\n  timezone: UTC\n"
            f"  network_check: {{target: '127.0.0.1:{port}', interval: 100ms, timeout: 10s}}\n"
            "jobs:\n  offsite:\n    engine: rsync\n    source: data\n"
            f"    destination: {rsync_daemon.url('w/')}\n    schedule: '@daily'\n"
        )
        timer = threading.Timer(0.8, listener.listen)  # the network comes up a moment later
        timer.start()
        started = time.monotonic()
        try:
            result = cli(["apply", "-p", str(plan)])
        finally:
            timer.join()
        waited = time.monotonic() - started
    assert result.code == 0, result.out + result.err
    assert 0.8 < waited < 8
    assert describe(rsync_daemon.module / "w") == describe(tmp_path / "data")
    assert [record["type"] for record in records(tmp_path) if record["type"] == "run.skipped"] == []


def test_the_demo_plan_applies_end_to_end(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    """What scripts/demo.sh does after bootstrapping: every demo job is due at the first apply."""
    from tests.conftest import REPO

    (tmp_path / "backups.yaml").write_text((REPO / "backups.yaml").read_text())
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo_data.py"), "demo/data"], cwd=tmp_path, check=True
    )
    (tmp_path / "demo" / "backup").mkdir()
    first = run_backupplan(["apply", "-p", "backups.yaml"], cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Due now (3 of 3 jobs):" in first.stdout and "3 of 3 jobs succeeded." in first.stdout
    assert describe(tmp_path / "demo" / "backup" / "photos-mirror") == describe(
        tmp_path / "demo" / "data" / "photos"
    )
    assert (tmp_path / "demo" / "site" / "index.html").exists()
    again = run_backupplan(["apply", "-p", "backups.yaml"], cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, "No changes. Nothing is due.\n")
