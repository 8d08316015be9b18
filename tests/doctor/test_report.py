"""The doctor report as JSON (the contract of docs/doctor-json.md) and as a screen, under a frozen
clock, with disk space and system facts injected and the machine's tool versions and paths
normalised. The scenario has a finding of every kind: ok, info, warn and fail."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson
from syrupy.assertion import SnapshotAssertion

from backupplan.commands.doctor import render
from backupplan.doctor import Context, Space, diagnose
from backupplan.doctor.files import user_text
from backupplan.journal import Journal
from backupplan.secrets import mask
from backupplan.status.tools import installed_version
from tests.journal.helpers import FROZEN, Clock, run_once

GIB = 1024**3
PLAN = """\
version: 1
settings:
  timezone: UTC
jobs:
  photos:
    description: Family photos
    engine: rsync
    source: src
    destination: backup/photos
    schedule: "0 2 * * *"
  docs:
    engine: rsync
    source: missing
    destination: backup/docs
  mail:
    engine: rclone
    source: src
    destination: "nowhere:mail"
    schedule: every 6h
  old:
    engine: rsync
    source: src
    destination: backup/old
    enabled: false
"""
SYSTEM = {
    "backupplan": "0.1.0",
    "python": "3.11.7",
    "python_path": "/usr/bin/python3",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "kernel": "Linux 6.1.0 (x86_64)",
}


def scenario(root: Path) -> Path:
    """The plan and its state at FROZEN: photos ran fine at 02:00, mail failed at 06:00, docs was
    interrupted by a crash at 10:00 (found at 11:00), the journal was compacted at 11:30 and the
    site built at 11:45."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("a\n")
    (root / "backup" / "photos").mkdir(parents=True)
    plan = root / "backups.yaml"
    plan.write_text(PLAN)
    state_dir = root / ".backupplan"
    clock = Clock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    with Journal.open(state_dir, clock=clock) as journal:
        journal.append(
            "plan.applied", data={"digest": "sha256:x", "path": str(plan), "jobs": ["photos", "mail"]}
        )
        clock.now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
        run_once(journal, "photos", "20261128T020000Z-aaaa", clock)
        clock.now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
        journal.append("run.started", job="mail", run="20261128T060000Z-bbbb", data={"engine": "rclone"})
        clock.advance(5)
        journal.append(
            "run.finished", job="mail", run="20261128T060000Z-bbbb",
            data={"status": "failed", "exit_code": 1, "duration": 5.0, "reason": "exit 1: unknown remote"},
        )  # fmt: skip
        clock.now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
        journal.append("run.started", job="docs", run="20261128T100000Z-cccc", data={"pid": 4242})
    clock.now = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    with Journal.open(state_dir, clock=clock) as journal:  # finds docs' run without an owner
        clock.now = datetime(2026, 11, 28, 11, 30, tzinfo=UTC)
        journal.compact()
    (root / "site").mkdir()
    (root / "site" / "status.json").write_text('{"format": 1, "generated_at": "2026-11-28T11:45:00Z"}')
    return plan


def context() -> Context:
    return Context(now=FROZEN, space=lambda path: Space(500 * GIB, 200 * GIB), system=lambda: dict(SYSTEM))


def normalised(text: str, root: Path) -> str:
    """The text without what differs between machines: folders, tool paths and versions, the user."""
    for name in ("rsync", "rclone"):
        path = shutil.which(name)
        assert path is not None
        version = installed_version(name, path)
        assert version is not None
        text = text.replace(path, f"/usr/bin/{name}").replace(version, f"<{name} version>")
    text = text.replace(str(root), "/srv").replace(user_text(os.geteuid()), "backup (uid 990)")
    return text.replace(f'"owner_uid": {os.geteuid()}', '"owner_uid": 990')


def test_the_json_report(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    plan = scenario(tmp_path)
    report = diagnose(str(plan), context())
    document = report.to_json(mask)
    assert document["format"] == 1
    digest = next(check for check in document["checks"] if check["name"] == "valid")["facts"]["digest"]
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode().replace(digest, "sha256:<digest>")
    assert normalised(text, tmp_path) == snapshot
    assert report.exit_code == 1
    assert json.loads(text)["counts"] == {"ok": 15, "info": 8, "warn": 2, "fail": 2}


def test_the_screen(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    plan = scenario(tmp_path)
    screen = click.unstyle(render(diagnose(str(plan), context())))
    assert normalised(screen, tmp_path) == snapshot


def test_secrets_of_the_plan_never_show(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CUSTOMER", "acme-very-secret")
    (tmp_path / "backups.yaml").write_text(
        "version: 1\nsettings: {timezone: UTC}\njobs:\n  a:\n    engine: rsync\n"
        "    source: /srv/${CUSTOMER}/data\n    destination: rsync://bk@127.0.0.1:1/${CUSTOMER}\n"
    )
    report = diagnose(str(tmp_path / "backups.yaml"), context())
    screen = click.unstyle(render(report))
    document = orjson.dumps(report.to_json(mask)).decode()
    assert "acme-very-secret" not in screen and "acme-very-secret" not in document
    # a ${VAR} on a command line is itself refused (validate and doctor say where), masked
    assert "jobs.a.source: its command line would show a secret (/srv/${CUSTOMER}/data)" in screen
    assert (
        "jobs.a.destination: its command line would show a secret (rsync://bk@127.0.0.1:1/${CUSTOMER})"
        in screen
    )
