"""The real rsync through the executor: local copies, an rsync daemon on 127.0.0.1, a remote shell,
and the ways a backup goes wrong (missing source, unwritable or full destination, a server that
dies or hangs, files that vanish)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from backupplan.engines import ENGINES, Difference, TransferSpec
from backupplan.engines.base import VerifyMode
from backupplan.process.execute import ChildIdentity
from backupplan.process.procfs import group_members
from tests.engines.conftest import command_line, transfer, verify
from tests.servers import RsyncDaemon
from tests.sshd import Sshd
from tests.trees import AWKWARD_NAMES, big_file, build, describe

RSYNC = ENGINES["rsync"]
PARTIAL = os.fsencode(".backupplan-partial")


def test_local_copy_is_identical_even_with_awkward_names(tmp_path: Path) -> None:
    source = build(tmp_path / "source", AWKWARD_NAMES)
    destination = tmp_path / "backup"
    done = transfer(RSYNC, TransferSpec(f"{source}/", str(destination)))
    assert done.outcome.kind == "ok", done.outcome
    assert describe(destination) == describe(source)
    assert done.stats.files_transferred == len(AWKWARD_NAMES)
    assert done.stats.bytes_transferred == sum(len(content) for content in AWKWARD_NAMES.values())
    assert done.progress and done.progress[-1].files_done == len(AWKWARD_NAMES)
    again = transfer(RSYNC, TransferSpec(f"{source}/", str(destination)))
    assert (again.outcome.kind, again.stats.files_transferred, again.stats.bytes_transferred) == ("ok", 0, 0)


def test_delete_mirrors_but_excluded_files_stay(tmp_path: Path) -> None:
    source = build(tmp_path / "source", {b"keep.txt": b"k", b"cache.tmp": b"c", b"important.tmp": b"i"})
    destination = build(tmp_path / "backup", {b"gone.txt": b"old", b"old.tmp": b"excluded, kept"})
    spec = TransferSpec(
        f"{source}/", str(destination), delete=True, exclude=("*.tmp",), include=("important.tmp",)
    )
    done = transfer(RSYNC, spec)
    assert done.outcome.kind == "ok"
    assert sorted(describe(destination)) == [b"important.tmp", b"keep.txt", b"old.tmp"]
    assert done.stats.deletes == 1


def test_missing_source_fails_and_says_why(tmp_path: Path) -> None:
    done = transfer(RSYNC, TransferSpec(f"{tmp_path}/no-such-folder/", str(tmp_path / "backup")))
    assert (done.result.exit_code, done.outcome.kind) == (23, "fatal")
    assert "change_dir" in done.outcome.message and "No such file or directory" in done.outcome.message


def test_missing_destination_parent_is_not_created(tmp_path: Path) -> None:
    source = build(tmp_path / "source", {b"a": b"a"})
    done = transfer(RSYNC, TransferSpec(f"{source}/", str(tmp_path / "unmounted" / "disk" / "backup")))
    assert (done.result.exit_code, done.outcome.kind) == (11, "fatal")
    assert "is the disk mounted?" in done.outcome.hint
    assert not (tmp_path / "unmounted").exists()


@pytest.mark.slow
def test_unwritable_destination_fails(tmp_path: Path, immutable_folder: Path) -> None:
    source = build(tmp_path / "source", {b"a.txt": b"a", b"b.txt": b"b"})
    done = transfer(RSYNC, TransferSpec(f"{source}/", f"{immutable_folder}/"))
    assert (done.result.exit_code, done.outcome.kind) == (23, "fatal")
    assert "Operation not permitted" in done.outcome.message
    assert os.listdir(immutable_folder) == []


@pytest.mark.slow
def test_full_disk_fails_and_never_leaves_a_truncated_file_under_its_name(
    tmp_path: Path, tiny_disk: Path
) -> None:
    source = tmp_path / "source"
    big_file(source / "a.bin", 3_000_000)
    big_file(source / "b.bin", 3_000_000)
    done = transfer(RSYNC, TransferSpec(f"{source}/", f"{tiny_disk}/backup/"))
    assert done.outcome.kind == "fatal"
    assert done.result.exit_code == 11
    assert "No space left on device" in done.outcome.message
    originals = describe(source)
    for name, facts in describe(tiny_disk / "backup", ignore=(PARTIAL,)).items():
        assert facts == originals[name]  # whatever has a final name is complete


@pytest.mark.slow
def test_bandwidth_limit_is_honoured(tmp_path: Path) -> None:
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    limit = 10 * 1024 * 1024
    done = transfer(RSYNC, TransferSpec(f"{source}/", str(tmp_path / "backup"), bandwidth=limit))
    assert done.outcome.kind == "ok"
    expected = 20_000_000 / limit
    assert 0.8 * expected <= done.result.duration <= 1.2 * expected, done.result.duration


@pytest.mark.slow
def test_timeout_keeps_the_partial_file_aside_and_the_next_run_completes(tmp_path: Path) -> None:
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    destination = tmp_path / "backup"
    spec = TransferSpec(f"{source}/", str(destination), bandwidth=8 * 1024 * 1024)
    stopped = transfer(RSYNC, spec, timeout=1.0)
    assert stopped.result.timed_out and stopped.outcome.stopped == "timeout"
    assert stopped.result.exit_code == 20  # rsync's answer to TERM: it cleaned up and left
    assert not (destination / "big.bin").exists()  # never a truncated file under its final name
    partial = destination / ".backupplan-partial" / "big.bin"
    assert 0 < partial.stat().st_size < 20_000_000
    finished = transfer(RSYNC, TransferSpec(f"{source}/", str(destination)))
    assert finished.outcome.kind == "ok"
    assert describe(destination) == describe(source)  # and the partial folder is gone


@pytest.mark.slow
def test_vanished_files_follow_the_policy(tmp_path: Path) -> None:
    def vanishing_source(name: str) -> Path:
        source = tmp_path / name
        big_file(source / "a_big.bin", 1_000_000)
        build(source, {b"z_small.txt": b"here at the start"})
        return source

    def run(name: str, allow: bool):  # type: ignore[no-untyped-def]
        source = vanishing_source(name)

        def started(identity: ChildIdentity) -> None:
            threading.Timer(0.3, (source / "z_small.txt").unlink).start()

        spec = TransferSpec(f"{source}/", str(tmp_path / f"{name}-backup"), bandwidth=2 * 1024 * 1024)
        return transfer(RSYNC, spec, allow_vanished=allow, on_start=started)

    allowed = run("allowed", True)
    assert (allowed.result.exit_code, allowed.outcome.kind) == (24, "warning")
    assert allowed.stats.vanished == (f"{tmp_path}/allowed/z_small.txt",)
    refused = run("refused", False)
    assert (refused.result.exit_code, refused.outcome.kind) == (24, "fatal")


@pytest.mark.slow
def test_copy_to_a_daemon_with_awkward_names(tmp_path: Path, rsync_daemon: RsyncDaemon) -> None:
    source = build(tmp_path / "source", AWKWARD_NAMES)
    done = transfer(RSYNC, TransferSpec(f"{source}/", rsync_daemon.url("host one/-photos/")))
    assert done.outcome.kind == "ok", done.outcome
    assert describe(rsync_daemon.module / "host one" / "-photos") == describe(source)


@pytest.mark.slow
def test_daemon_password_goes_through_the_environment_only(tmp_path: Path) -> None:
    daemon = RsyncDaemon(tmp_path / "rsyncd", user="backup", password="canary-d41d8cd9")
    daemon.start()
    try:
        source = build(tmp_path / "source", {b"a.txt": b"a"})
        command_lines: list[bytes] = []

        def look(identity: ChildIdentity) -> None:
            command_lines.append(command_line(identity, "rsync"))

        good = TransferSpec(f"{source}/", daemon.url("run/"), env={"RSYNC_PASSWORD": "canary-d41d8cd9"})
        done = transfer(RSYNC, good, on_start=look)
        assert done.outcome.kind == "ok", done.outcome
        assert describe(daemon.module / "run") == describe(source)
        assert command_lines and all(
            line.startswith(b"rsync\0") and b"canary" not in line for line in command_lines
        )
        wrong = TransferSpec(f"{source}/", daemon.url("run/"), env={"RSYNC_PASSWORD": "wrong-password"})
        refused = transfer(RSYNC, wrong)
        assert (refused.result.exit_code, refused.outcome.kind) == (5, "fatal")
        assert "auth failed" in refused.outcome.message
    finally:
        daemon.kill()


@pytest.mark.slow
def test_daemon_dying_mid_transfer_is_retryable_and_a_rerun_succeeds(
    tmp_path: Path, rsync_daemon: RsyncDaemon
) -> None:
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    spec = TransferSpec(f"{source}/", rsync_daemon.url("run/"), bandwidth=10 * 1024 * 1024)

    def kill_soon(identity: ChildIdentity) -> None:
        threading.Timer(0.5, rsync_daemon.kill).start()

    broken = transfer(RSYNC, spec, on_start=kill_soon)
    assert broken.outcome.kind == "retryable", broken.outcome
    assert broken.result.exit_code in (10, 12)
    down = transfer(RSYNC, spec)
    assert (down.result.exit_code, down.outcome.kind) == (10, "retryable")  # connection refused
    rsync_daemon.start()
    again = transfer(RSYNC, TransferSpec(f"{source}/", rsync_daemon.url("run/"), delete=True))
    assert again.outcome.kind == "ok"
    # The killed daemon could not clean up its hidden temp file (.big.bin.XXXXXX); a mirroring
    # run deletes it, and it never had the final name.
    assert describe(rsync_daemon.module / "run") == describe(source)


@pytest.mark.slow
def test_a_hung_daemon_is_stopped_by_the_wall_clock(tmp_path: Path, rsync_daemon: RsyncDaemon) -> None:
    # rsync's own --timeout and --contimeout do not fire against a stopped peer: only our limit does.
    source = build(tmp_path / "source", {b"a.txt": b"a"})
    rsync_daemon.pause()
    spec = TransferSpec(f"{source}/", rsync_daemon.url("run/"), io_timeout=60, connect_timeout=60)
    done = transfer(RSYNC, spec, timeout=1.5, stop_grace=1)
    assert done.result.timed_out
    assert (done.outcome.kind, done.outcome.stopped) == ("fatal", "timeout")
    assert 1.5 <= done.result.duration < 4


@pytest.mark.slow
def test_a_transfer_stuck_on_a_half_frozen_daemon_is_stopped(
    tmp_path: Path, rsync_daemon: RsyncDaemon
) -> None:
    # Only the daemon's per-connection process is stopped, mid-transfer: its sibling keeps the link
    # alive, so rsync's --timeout never fires, and the stuck client may ignore TERM.
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    assert rsync_daemon.process is not None
    daemon_pid = rsync_daemon.process.pid

    def freeze_the_connection(identity: ChildIdentity) -> None:
        def freeze() -> None:
            for member in group_members(daemon_pid):
                if member.parent == daemon_pid:
                    os.kill(member.pid, signal.SIGSTOP)

        threading.Timer(0.4, freeze).start()

    spec = TransferSpec(f"{source}/", rsync_daemon.url("run/"), bandwidth=5 * 1024 * 1024, io_timeout=1)
    done = transfer(RSYNC, spec, timeout=2, stop_grace=1, on_start=freeze_the_connection)
    assert done.result.timed_out and done.outcome.stopped == "timeout"
    assert done.result.duration < 4  # here rsync ignores TERM and is killed after the grace


@pytest.mark.slow
def test_an_ssh_destination_keeps_names_with_spaces(tmp_path: Path, sshd: Sshd) -> None:
    # sshd hands the remote command line to a shell, which would split names with spaces if rsync
    # did not protect them (--protect-args).
    source = build(tmp_path / "source", AWKWARD_NAMES)
    target = tmp_path / "remote side" / "my backups"
    rsh = tuple(sshd.ssh_command())
    spec = TransferSpec(f"{source}/", f"{sshd.destination}:{target}/", rsh=rsh)
    done = transfer(RSYNC, spec)
    assert done.outcome.kind == "ok", done.outcome
    assert describe(target) == describe(source)


def test_verification_lists_every_difference(tmp_path: Path) -> None:
    source = build(tmp_path / "source", {b"same.txt": b"same", b"edited.txt": b"aaaa", b"new\nline": b"n"})
    destination = tmp_path / "backup"
    assert transfer(RSYNC, TransferSpec(f"{source}/", str(destination))).outcome.kind == "ok"
    spec = TransferSpec(f"{source}/", str(destination), delete=True)
    assert _verify(spec, "checksum") == ([], "ok")
    (destination / "edited.txt").write_bytes(b"bbbb")  # same size and time: only a checksum sees it
    os.utime(destination / "edited.txt", (1_700_000_000, 1_700_000_000))
    os.unlink(destination / "new\nline")
    (destination / "stray.txt").write_bytes(b"x")
    os.utime(destination, (1_600_000_000, 1_600_000_000))  # the folder's own time differs too
    assert _verify(spec, "quick") == (
        [Difference("missing", "new\nline"), Difference("extra", "stray.txt"), Difference("metadata", "./")],
        "fatal",
    )
    assert _verify(spec, "checksum") == (
        [
            Difference("changed", "edited.txt"),
            Difference("missing", "new\nline"),
            Difference("extra", "stray.txt"),
            Difference("metadata", "./"),
        ],
        "fatal",
    )


def _verify(spec: TransferSpec, mode: VerifyMode) -> tuple[list[Difference], str]:
    differences, outcome = verify(RSYNC, spec, mode)
    order = ["changed", "missing", "extra", "metadata"]
    return sorted(differences, key=lambda difference: order.index(difference.kind)), outcome.kind
