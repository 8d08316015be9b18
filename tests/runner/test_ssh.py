"""rsync jobs over a real OpenSSH server on 127.0.0.1 (tests/sshd.py): the copy, its restore and
verification, doctor's login check, and every way it fails, each worded for people: the connection
killed mid-run (retried, resumed), a changed host key (never accepted), a refused key, the server
down, rsync missing on the remote side, the remote disk full."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.mounts import fill, small_tmpfs
from tests.runner.helpers import of_type, write_plan
from tests.sshd import Sshd
from tests.trees import big_file, build, describe

pytestmark = pytest.mark.slow

AWKWARD = {
    b"plain.txt": b"p\n",
    b"with space.txt": b"s\n",
    b"sub dir/it's.txt": b"q\n",
    b"caf\xc3\xa9": b"u\n",
}


def ssh_job(tmp_path: Path, server: Sshd, destination: Path, extra: str = "", *, url: bool = False) -> Path:
    where = (
        f"ssh://{server.user}@127.0.0.1:{server.port}{destination}"
        if url
        else f"{server.user}@127.0.0.1:{destination}"
    )
    port = "" if url else f"      port: {server.port}\n"
    return write_plan(
        tmp_path,
        f"  docs:\n    engine: rsync\n    source: src\n    destination: {where}\n"
        f"    ssh:\n{port}      identity_file: {server.identity}\n      known_hosts: {server.known_hosts}\n"
        "      options: [GlobalKnownHostsFile=/dev/null]\n" + extra,
    )


def last(tmp_path: Path) -> dict[str, Any]:
    return of_type(tmp_path / ".backupplan", "run.finished")[-1]["data"]


@pytest.mark.parametrize("url", [False, True])
def test_a_copy_over_ssh_its_restore_and_verification(
    tmp_path: Path, sshd: Sshd, run_backupplan, url: bool
) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", AWKWARD)
    remote = tmp_path / "remote side" / "docs"
    plan = ssh_job(tmp_path, sshd, remote, url=url)
    done = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert describe(remote) == describe(source)
    assert not (remote / ".backupplan-partial").exists()  # a successful run leaves no empty folder
    restored = run_backupplan(["restore", "--plan", str(plan), "docs", "--to", str(tmp_path / "back")])
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert describe(tmp_path / "back") == describe(source)
    verified = run_backupplan(["verify", "--plan", str(plan), "docs", "--checksum"])
    assert verified.returncode == 0, verified.stdout
    doctor = run_backupplan(["doctor", "--plan", str(plan)])
    assert "logged in with the job's key; rsync " in doctor.stdout


def test_a_connection_killed_mid_run_is_retried_and_resumed(
    tmp_path: Path, sshd: Sshd, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"small.txt": b"s\n"})
    big_file(tmp_path / "src" / "big.bin", 4 * 1024 * 1024)
    plan = ssh_job(
        tmp_path,
        sshd,
        tmp_path / "remote",
        "    delete: true\n    bandwidth: 1MiB\n    retries: {attempts: 3, backoff: 1s}\n",
    )

    def cut() -> None:
        deadline = time.monotonic() + 15
        while not of_type(tmp_path / ".backupplan", "run.child") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)
        sshd.kill_sessions()

    threading.Thread(target=cut, daemon=True).start()
    done = run_backupplan(["run", "--plan", str(plan), "docs"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    attempts = of_type(tmp_path / ".backupplan", "run.attempt")
    assert [attempt["data"]["outcome"] for attempt in attempts] == ["retryable", "ok"]
    assert "the ssh connection to 127.0.0.1 was lost during the transfer" in attempts[0]["data"]["message"]
    assert describe(tmp_path / "remote") == describe(tmp_path / "src")


@pytest.mark.parametrize(
    ("break_it", "kind", "words"),
    [
        (
            lambda server: server.regenerate_host_key(),
            "fatal",
            "is not the one on record (never accepted silently)",
        ),
        (lambda server: server.refuse_key(), "fatal", "the ssh server of 127.0.0.1 refused the key"),
        (lambda server: server.stop(), "retryable", "127.0.0.1 cannot be reached over ssh"),
    ],
    ids=["host-key-changed", "key-refused", "server-down"],
)
def test_each_failure_is_worded(
    tmp_path: Path, sshd: Sshd, run_backupplan, break_it: Any, kind: str, words: str
) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a\n"})
    # guard: off, so that the second run is the transfer itself (its attempt is journaled), not
    # the guard's dry run (which words its failures the same way)
    plan = ssh_job(tmp_path, sshd, tmp_path / "remote", "    guard: off\n")
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0  # the host key is known now
    break_it(sshd)
    failed = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert failed.returncode == 1
    (attempt,) = of_type(tmp_path / ".backupplan", "run.attempt")[1:]
    assert attempt["data"]["outcome"] == kind
    assert words in last(tmp_path)["reason"], last(tmp_path)["reason"]
    doctor = run_backupplan(["doctor", "--plan", str(plan)])
    assert doctor.returncode == 1
    if kind == "fatal":
        assert words in doctor.stdout


def test_rsync_missing_on_the_remote_side(tmp_path: Path, sshd: Sshd, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a\n"})
    plan = ssh_job(tmp_path, sshd, tmp_path / "remote", "    extra_args: [--rsync-path=/no/such/rsync]\n")
    failed = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert failed.returncode == 1
    assert "rsync is not installed on 127.0.0.1" in last(tmp_path)["reason"]


def test_the_remote_disk_full(tmp_path: Path, sshd: Sshd, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a\n"})
    big_file(tmp_path / "src" / "big.bin", 3 * 1024 * 1024)
    with small_tmpfs(tmp_path / "remote-disk", "2m", mode="755") as disk:
        fill(disk)
        plan = ssh_job(tmp_path, sshd, disk / "docs")
        failed = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert failed.returncode == 1
    reason = last(tmp_path)["reason"]
    assert "the disk on 127.0.0.1 is full" in reason or "No space left on device" in reason, reason
