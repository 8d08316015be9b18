"""The runner against real faults: servers dying, hung peers, signals, kill -9, full and immutable
disks, a second process, and secrets that must never be written anywhere (RELIABILITY 5, 8, 11, 13,
15, 20)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.mounts import small_tmpfs
from tests.runner.helpers import child_started, of_type, pid_alive, records, start_run, wait_for, write_plan
from tests.servers import RsyncDaemon
from tests.trees import big_file, build, describe

pytestmark = pytest.mark.slow


def test_daemon_killed_mid_transfer_is_retried_and_succeeds(
    tmp_path: Path, rsync_daemon: RsyncDaemon, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    big_file(tmp_path / "src" / "big.bin", 6 * 1024 * 1024)
    plan = write_plan(
        tmp_path,
        f"""\
  nas:
    engine: rsync
    source: src
    destination: {rsync_daemon.url("nas")}
    bandwidth: 3MiB
    retries: {{attempts: 3, backoff: 1s, max_backoff: 2s}}
""",
    )
    process = start_run(plan, "nas")
    wait_for(lambda: child_started(tmp_path / ".backupplan", "nas"))
    time.sleep(0.7)
    rsync_daemon.kill()
    time.sleep(0.3)
    rsync_daemon.start()  # back before the backoff ends
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    state = tmp_path / ".backupplan"
    attempts = [record["data"] for record in of_type(state, "run.attempt")]
    assert attempts[0]["outcome"] == "retryable" and attempts[0]["retry_in"] is not None
    assert attempts[-1]["outcome"] == "ok"
    (finished,) = of_type(state, "run.finished")
    assert finished["data"]["status"] == "succeeded" and finished["data"]["attempts"] == len(attempts) >= 2
    copied = describe(rsync_daemon.module / "nas", ignore=(b".backupplan-partial",))
    # The killed daemon's receiver may leave its hidden temp file (`.big.bin.XXXXXX`, never the final
    # name); delete: true jobs remove it on the next run.
    assert {name: entry for name, entry in copied.items() if not name.startswith(b".big.bin.")} == describe(
        tmp_path / "src"
    )
    assert "--bwlimit=3072" in of_type(state, "run.child")[0]["data"]["argv"]


def cloud_plan(tmp_path: Path, folder: str, retries: str, env: dict[str, str]) -> Path:
    """A plan with one rclone job `cloud` copying src to the moto bucket's `folder`."""
    return write_plan(
        tmp_path,
        f"""\
  cloud:
    engine: rclone
    source: src
    destination: moto:backup-bucket/{folder}
    retries: {retries}
    env: {json.dumps(env)}
""",
    )


def test_s3_server_down_then_back(tmp_path: Path, moto_s3, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {f"f{index}.txt".encode(): os.urandom(2000) for index in range(20)})
    plan = cloud_plan(tmp_path, "photos", "{attempts: 4, backoff: 1s, max_backoff: 2s}", moto_s3.env())
    moto_s3.kill()
    process = start_run(plan, "cloud")
    wait_for(lambda: of_type(tmp_path / ".backupplan", "run.attempt"), timeout=30)
    moto_s3.start()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    attempts = [record["data"]["outcome"] for record in of_type(tmp_path / ".backupplan", "run.attempt")]
    assert attempts[0] == "retryable" and attempts[-1] == "ok"


def test_a_stop_while_the_guards_dry_run_waits_to_retry_interrupts_the_run(
    tmp_path: Path, moto_s3, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    """A guarded rclone job whose store went down: its dry run fails and waits to try again; Ctrl-C
    (SIGTERM) then ends the run as interrupted, as during a transfer's wait, not as failed."""
    build(tmp_path / "src", {f"f{index}.txt".encode(): os.urandom(200) for index in range(5)})
    plan = cloud_plan(tmp_path, "stopped", "{attempts: 3, backoff: 60s, max_backoff: 60s}", moto_s3.env())
    first = run_backupplan(["run", "--plan", str(plan), "cloud"])  # a copy: the next run looks first
    assert first.returncode == 0, first.stdout + first.stderr
    moto_s3.kill()
    try:
        process = start_run(plan, "cloud")
        logs = tmp_path / ".backupplan" / "logs" / "cloud"
        wait_for(
            lambda: any("guard: the dry run found" in log.read_text() for log in logs.glob("*.log")),
            timeout=30,
        )
        time.sleep(0.5)  # within the 60 s wait before the dry run's second attempt
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        moto_s3.start()
    assert process.returncode == 130, out + err
    (interrupted,) = of_type(tmp_path / ".backupplan", "run.interrupted")
    assert interrupted["data"]["reason"] == "signal"


def test_hung_peer_is_stopped_by_the_wall_clock(
    tmp_path: Path, rsync_daemon: RsyncDaemon, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    big_file(tmp_path / "src" / "big.bin", 1024 * 1024)
    plan = write_plan(
        tmp_path,
        f"""\
  nas:
    engine: rsync
    source: src
    destination: {rsync_daemon.url("nas")}
    timeout: 3s
""",
        settings="  stop_grace: 1s\n",
    )
    rsync_daemon.pause()  # accepts TCP connections, never answers
    started = time.monotonic()
    try:
        result = run_backupplan(["run", "--plan", str(plan), "nas"], timeout=30)
    finally:
        rsync_daemon.resume()
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 3 + 1 + 5
    (finished,) = of_type(tmp_path / ".backupplan", "run.finished")
    assert finished["data"]["status"] == "timed_out"
    assert finished["data"]["reason"].startswith("timed out after 3s")
    child = of_type(tmp_path / ".backupplan", "run.child")[0]["data"]
    assert not pid_alive(child["pid"])


def test_second_run_of_a_running_job_is_refused(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    big_file(tmp_path / "src" / "big.bin", 4 * 1024 * 1024)
    plan = write_plan(
        tmp_path, "  slow:\n    engine: rsync\n    source: src\n    destination: out\n    bandwidth: 1MiB\n"
    )
    first = start_run(plan, "slow")
    try:
        wait_for(lambda: child_started(tmp_path / ".backupplan", "slow"))
        second = run_backupplan(["run", "--plan", str(plan), "slow"])
        assert second.returncode == 1
        message = second.stderr.strip().splitlines()[0]
        assert message.startswith(f"backupplan: slow is already running (pid {first.pid}, since ")
        assert message.endswith(" UTC)")
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)


def test_kill_9_leaves_no_orphan_and_the_next_run_recovers(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    big_file(tmp_path / "src" / "big.bin", 8 * 1024 * 1024)
    plan = write_plan(
        tmp_path, "  slow:\n    engine: rsync\n    source: src\n    destination: out\n    bandwidth: 2MiB\n"
    )
    (tmp_path / "out").mkdir()
    process = start_run(plan, "slow")
    child = wait_for(lambda: child_started(tmp_path / ".backupplan", "slow"))["data"]
    time.sleep(0.5)
    process.kill()
    process.wait(timeout=10)
    wait_for(lambda: not pid_alive(child["pid"]), timeout=2.5)  # parent-death signal: within 2 s
    state = tmp_path / ".backupplan"
    assert not of_type(state, "run.finished")
    # status notices the crash once; a new run records nothing more for it and succeeds
    assert run_backupplan(["status", "--plan", str(plan)]).returncode == 0
    assert run_backupplan(["status", "--plan", str(plan)]).returncode == 0
    result = run_backupplan(["run", "--plan", str(plan), "slow"], timeout=60)
    assert result.returncode == 0, result.stderr
    interrupted = of_type(state, "run.interrupted")
    assert len(interrupted) == 1 and interrupted[0]["data"]["reason"] == "crash"
    assert interrupted[0]["data"]["pid"] == child["pid"]
    assert describe(tmp_path / "out", ignore=(b".backupplan-partial",)) == describe(tmp_path / "src")
    assert [record["type"] for record in records(state)].count("run.started") == 2


def test_sigterm_interrupts_cleanly_even_with_a_stuck_peer(tmp_path: Path, rsync_daemon: RsyncDaemon) -> None:
    big_file(tmp_path / "src" / "big.bin", 4 * 1024 * 1024)
    plan = write_plan(
        tmp_path,
        f"""\
  nas:
    engine: rsync
    source: src
    destination: {rsync_daemon.url("nas")}
    bandwidth: 1MiB
""",
        settings="  stop_grace: 2s\n",
    )
    process = start_run(plan, "nas")
    child = wait_for(lambda: child_started(tmp_path / ".backupplan", "nas"))["data"]
    time.sleep(0.5)
    rsync_daemon.pause()
    try:
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
        elapsed = time.monotonic() - stopped
    finally:
        rsync_daemon.resume()
    assert process.returncode == 130, out + err
    assert elapsed < 2 + 5
    (interrupted,) = of_type(tmp_path / ".backupplan", "run.interrupted")
    assert interrupted["data"]["reason"] == "signal"
    assert not pid_alive(child["pid"])
    assert "nas  interrupted" in out


def test_pause_stops_a_running_job_within_two_seconds(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    big_file(tmp_path / "src" / "big.bin", 8 * 1024 * 1024)
    plan = write_plan(
        tmp_path, "  slow:\n    engine: rsync\n    source: src\n    destination: out\n    bandwidth: 1MiB\n"
    )
    process = start_run(plan, "slow")
    wait_for(lambda: child_started(tmp_path / ".backupplan", "slow"))
    paused = time.monotonic()
    result = run_backupplan(["pause", "--plan", str(plan), "slow"])
    assert result.stdout == "slow paused; its running run was stopped.\n"
    process.communicate(timeout=20)
    state = tmp_path / ".backupplan"
    request = next(record for record in records(state) if record["type"] == "control.pause")
    (interrupted,) = of_type(state, "run.interrupted")
    waited = _seconds_between(request["ts"], interrupted["ts"])
    assert waited <= 2.0 and time.monotonic() - paused < 10
    assert interrupted["data"]["reason"] == "pause"


def _seconds_between(first: str, second: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(second) - datetime.fromisoformat(first)).total_seconds()


def test_full_disk_fails_once_then_succeeds_after_space_is_freed(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    with small_tmpfs(tmp_path / "disk", "3m", mode="1777") as disk:
        big_file(tmp_path / "src" / "a.bin", 1024 * 1024)
        big_file(tmp_path / "src" / "b.bin", 1024 * 1024)
        big_file(disk / "filler.bin", 1536 * 1024)
        plan = write_plan(
            tmp_path,
            f"  j:\n    engine: rsync\n    source: src\n    destination: {disk}/out\n"
            "    retries: {attempts: 3, backoff: 1s}\n",
        )
        first = run_backupplan(["run", "--plan", str(plan), "j"])
        assert first.returncode == 1
        state = tmp_path / ".backupplan"
        (finished,) = of_type(state, "run.finished")
        assert finished["data"]["status"] == "failed" and finished["data"]["exit_code"] == 11
        assert len(of_type(state, "run.attempt")) == 1  # a full disk is not retried hot
        (disk / "filler.bin").unlink()
        second = run_backupplan(["run", "--plan", str(plan), "j"])
        assert second.returncode == 0, second.stderr
        assert describe(disk / "out", ignore=(b".backupplan-partial",)) == describe(tmp_path / "src")


def test_immutable_destination_fails(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a"})
    (tmp_path / "out").mkdir()
    subprocess.run(
        ["chattr", "+i", str(tmp_path / "out")], check=True
    )  # a skip here would hide a broken setup
    try:
        plan = write_plan(tmp_path, "  j:\n    engine: rsync\n    source: src\n    destination: out\n")
        result = run_backupplan(["run", "--plan", str(plan), "j"])
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "out")], check=False)
    assert result.returncode == 1
    (finished,) = of_type(tmp_path / ".backupplan", "run.finished")
    assert finished["data"]["status"] == "failed" and finished["data"]["exit_code"] == 23


def test_secrets_never_reach_state_logs_or_site(tmp_path: Path, moto_s3, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    """RELIABILITY 20: canaries in the rsync daemon password, rclone keys and URL tokens."""
    daemon = RsyncDaemon(tmp_path / "rsyncd", user="backup", password="CANARY-rsync-pass")
    daemon.start()
    try:
        build(tmp_path / "src", {b"a.txt": b"a" * 100})
        env = moto_s3.env(access_key="CANARY-access-key", secret="CANARY-secret-key")
        secrets = {
            "NAS_PASSWORD": "CANARY-rsync-pass",
            "S3_KEY": env["RCLONE_CONFIG_MOTO_ACCESS_KEY_ID"],
            "S3_SECRET": env["RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY"],
            "HC_TOKEN": "CANARY-ping-token",
        }
        plan = write_plan(
            tmp_path,
            f"""\
  nas:
    engine: rsync
    source: src
    destination: {daemon.url("nas")}
    env: {{RSYNC_PASSWORD: "${{NAS_PASSWORD}}"}}
    ping: "http://127.0.0.1:9/ping/${{HC_TOKEN}}"
  cloud:
    engine: rclone
    source: src
    destination: moto:canary-bucket/x
    env:
      RCLONE_CONFIG_MOTO_TYPE: s3
      RCLONE_CONFIG_MOTO_PROVIDER: Other
      RCLONE_CONFIG_MOTO_ENDPOINT: {moto_s3.endpoint}
      RCLONE_CONFIG_MOTO_ACCESS_KEY_ID: "${{S3_KEY}}"
      RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY: "${{S3_SECRET}}"
    notify: ["json://127.0.0.1:9/hook?token=${{HC_TOKEN}}"]
""",
            settings="  site_url: https://backups.example/?token=CANARY-url-token\n",
        )
        result = run_backupplan(["run", "--plan", str(plan), "nas", "cloud"], env=secrets, timeout=90)
        assert result.returncode == 0, result.stdout + result.stderr
        status = run_backupplan(["status", "--plan", str(plan), "--json"], env=secrets)
        assert status.returncode == 0, status.stderr
        leaks = []
        for root in (tmp_path / ".backupplan", tmp_path / "site"):
            for path in root.rglob("*"):
                if path.is_file() and b"CANARY" in path.read_bytes():
                    leaks.append(str(path.relative_to(tmp_path)))
        assert leaks == []
        assert "CANARY" not in result.stdout + result.stderr + status.stdout + status.stderr
    finally:
        daemon.kill()
