"""`backupplan notify test`, end to end through the CLI against a receiver on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Receiver

HOST = "test-host"  # BACKUPPLAN_HOST (tests/conftest.py): the host the plan acts as


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "backups.yaml"
    path.write_text(text)
    return str(path)


def test_every_target_gets_a_test_message(cli, receiver: Receiver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan = write(
        tmp_path,
        f"""\
version: 1
settings:
  notify: ["json://{receiver.url}/all"]
jobs:
  photos:
    engine: rsync
    source: /data/photos
    destination: /backup/photos
    notify: [{{url: "json://{receiver.url}/photos", on: [failure, success]}}]
    ping: http://{receiver.url}/ping/0f1e2d3c
  music:
    engine: rsync
    source: /data/music
    destination: /backup/music
    ping: http://{receiver.url}/api/push/AbC123?status=up&msg=OK&ping=
""",
    )
    result = cli(["notify", "test", "--plan", plan])
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"ok       json://{receiver.url}/all (failure, recovery, overdue)",
        f"ok       json://{receiver.url}/photos (failure, success)",
        f"ok       ping http://{receiver.url}/ping/0f1e2d3c (job photos): "
        "logged, the check's status is unchanged",
        f"skipped  ping http://{receiver.url}/api/push/AbC123?status=up&msg=OK&ping= (job music): "
        "Uptime Kuma has no test signal that leaves a monitor's status alone; "
        "it is pinged at the job's next run",
        "all 3 reached.",
    ]
    by_route = {request.route: request for request in receiver.received}
    assert sorted(by_route) == ["/all", "/photos", "/ping/0f1e2d3c/log"]
    assert by_route["/all"].json() == {
        "version": "1.0",
        "title": f"backupplan: test message from {HOST}",
        "message": f"This is a test message from backupplan on {HOST}.\nPlan: {plan}\nScope: every job\n"
        "This target gets: failure, recovery, overdue",
        "attachments": [],
        "type": "info",
    }
    assert (
        by_route["/ping/0f1e2d3c/log"].body == f"backupplan test from {HOST}: this changes no status".encode()
    )


def test_one_job_and_a_target_that_fails(
    cli, receiver: Receiver, closed_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOOK_TOKEN", "cli-canary-1f2e3d")
    plan = write(
        tmp_path,
        f"""\
version: 1
settings:
  notify: ["json://{receiver.url}/all/${{HOOK_TOKEN}}"]
jobs:
  photos:
    engine: rsync
    source: /data/photos
    destination: /backup/photos
    notify: ["json://127.0.0.1:{closed_port}/down/${{HOOK_TOKEN}}"]
  music:
    engine: rsync
    source: /data/music
    destination: /backup/music
    notify: ["json://{receiver.url}/music"]
""",
    )
    result = cli(["notify", "test", "photos", "--plan", plan])
    assert result.code == 1
    assert result.out.splitlines() == [
        f"ok       json://{receiver.url}/all/${{HOOK_TOKEN}} (failure, recovery, overdue)",
        f"failed   json://127.0.0.1:{closed_port}/down/${{HOOK_TOKEN}} (failure, recovery, overdue): "
        "A Connection error occurred sending JSON notification to 127.0.0.1.",
    ]
    assert result.err == "1 of 2 could not be reached; fix them and run this again.\n"
    assert "canary" not in result.out + result.err
    assert [request.route for request in receiver.received] == ["/all/cli-canary-1f2e3d"]
    assert "Scope: job photos" in receiver.received[0].json()["message"]


def test_an_unknown_job_is_named_with_a_hint(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan = write(
        tmp_path,
        "version: 1\njobs:\n  photos: {engine: rsync, source: /a, destination: /b}\n",
    )
    result = cli(["notify", "test", "photo", "--plan", plan])
    assert result.code == 1
    assert result.err == f"backupplan: {plan} has no job 'photo' (did you mean 'photos'?)\n"


def test_nothing_to_test_says_what_to_add(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan = write(tmp_path, "version: 1\njobs:\n  photos: {engine: rsync, source: /a, destination: /b}\n")
    result = cli(["notify", "test", "--plan", plan])
    assert result.code == 1
    assert result.err == (
        f"{plan}: no notification targets and no ping URL to test (add `notify:` under settings or a job, "
        "or `ping:` to a job; see docs/notifications.md)\n"
    )
