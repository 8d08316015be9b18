"""The process executor with real child processes: output records, identity, timeouts, cancellation,
stopping whole process groups, children that must outlive threads but not backupplan, secrets."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backupplan.errors import EngineError
from backupplan.process import execute
from backupplan.process.execute import (
    ChildIdentity,
    run_process,
    run_short,
    start_process,
    stop_survivor,
    supervise,
)
from backupplan.process.procfs import boot_id, group_members, identity_of, read_stat
from backupplan.secrets import registry
from tests.conftest import backupplan_env
from tests.trees import big_file

PYTHON = sys.executable
ENV = dict(os.environ)


def python(code: str) -> list[str]:
    return [PYTHON, "-c", code]


def alive(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat.state != "Z"


def wait_until(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def run(argv: list[str], **options):  # type: ignore[no-untyped-def]
    return asyncio.run(run_process(argv, env=options.pop("env", ENV), **options))


def test_output_is_split_into_records_on_carriage_returns_and_newlines() -> None:
    out: list[bytes] = []
    err: list[bytes] = []
    code = (
        "import sys\n"
        "sys.stdout.buffer.write(b'one\\rtwo\\r\\nthree\\n\\n\\xff\\xfe raw\\rlast without end')\n"
        "sys.stderr.buffer.write(b'warning\\n')\n"
    )
    result = run(python(code), on_stdout=out.append, on_stderr=err.append)
    assert out == [b"one", b"two", b"three", b"\xff\xfe raw", b"last without end"]
    assert err == [b"warning"]
    assert (result.exit_code, result.signal, result.timed_out, result.cancelled) == (0, None, False, False)


@pytest.mark.slow
def test_a_carriage_return_record_arrives_at_once() -> None:
    arrivals: list[float] = []
    code = "import sys, time\nsys.stdout.write('  12%\\r'); sys.stdout.flush(); time.sleep(1.0)\n"
    started = time.monotonic()
    result = run(python(code), on_stdout=lambda record: arrivals.append(time.monotonic() - started))
    assert len(arrivals) == 1
    assert arrivals[0] < result.duration - 0.5  # not held back until the next byte or the end


def test_an_endless_line_is_passed_on_in_pieces() -> None:
    sizes: list[int] = []
    run(
        python("import sys; sys.stdout.write('x' * 300000)"),
        on_stdout=lambda record: sizes.append(len(record)),
    )
    assert sum(sizes) == 300000
    assert max(sizes) == execute.MAX_RECORD


def test_exit_codes_and_signals() -> None:
    assert run(python("raise SystemExit(23)")).exit_code == 23
    killed = run(python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    assert (killed.exit_code, killed.signal) == (None, signal.SIGKILL)


def test_the_identity_is_reported_before_any_output(tmp_path: Path) -> None:
    events: list[object] = []

    def started(identity: ChildIdentity) -> None:
        stat = read_stat(identity.pid)
        assert stat is not None
        events.append(("start", identity, stat))

    result = run(python("print('hello')"), on_start=started, on_stdout=events.append, cwd=str(tmp_path))
    (kind, identity, stat), record = events
    assert kind == "start" and record == b"hello"
    assert result.identity == identity
    assert identity.pgid == identity.pid == stat.session  # its own session and process group
    assert identity.start_time == stat.start_time
    assert identity.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_the_child_runs_in_the_given_folder(tmp_path: Path) -> None:
    out: list[bytes] = []
    run(python("import os; print(os.getcwd())"), cwd=str(tmp_path), on_stdout=out.append)
    assert out == [os.fsencode(tmp_path)]


@pytest.mark.slow
def test_a_timeout_stops_the_whole_process_group() -> None:
    out: list[bytes] = []
    code = (
        "import subprocess, time\n"
        "grandchild = subprocess.Popen(['sleep', '30'])\n"
        "print(grandchild.pid, flush=True)\n"
        "time.sleep(30)"
    )
    result = run(python(code), on_stdout=out.append, timeout=0.5, stop_grace=2)
    grandchild = int(out[0])
    assert result.timed_out and not result.cancelled and not result.killed
    assert result.signal == signal.SIGTERM
    assert 0.5 <= result.duration < 2
    assert wait_until(lambda: not alive(grandchild), 1)


@pytest.mark.slow
def test_a_child_that_ignores_term_is_killed_after_the_grace() -> None:
    code = (
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(30)"
    )
    result = run(python(code), timeout=0.5, stop_grace=0.5)
    assert result.timed_out and result.killed
    assert (result.exit_code, result.signal) == (None, signal.SIGKILL)
    assert 1.0 <= result.duration < 3


@pytest.mark.slow
def test_setting_cancel_stops_the_child() -> None:
    async def scenario():  # type: ignore[no-untyped-def]
        cancel = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, cancel.set)
        return await run_process(["sleep", "30"], env=ENV, cancel=cancel, stop_grace=2)

    result = asyncio.run(scenario())
    assert result.cancelled and not result.timed_out
    assert result.signal == signal.SIGTERM and result.duration < 2


@pytest.mark.slow
def test_cancelling_the_task_still_stops_the_child() -> None:
    identities: list[ChildIdentity] = []

    async def scenario() -> None:
        task = asyncio.ensure_future(run_process(["sleep", "30"], env=ENV, on_start=identities.append))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert wait_until(lambda: not alive(identities[0].pid), 2)


@pytest.mark.slow
def test_a_failing_callback_stops_the_child_and_is_raised() -> None:
    identities: list[ChildIdentity] = []

    def refuse(record: bytes) -> None:
        raise ValueError(f"cannot handle {record!r}")

    code = "import time\nwhile True: print('tick', flush=True); time.sleep(0.05)"
    started = time.monotonic()
    with pytest.raises(ValueError, match="cannot handle b'tick'"):
        run(python(code), on_stdout=refuse, on_start=identities.append, stop_grace=2)
    assert time.monotonic() - started < 3
    assert not alive(identities[0].pid)


def test_a_failing_start_callback_stops_the_child() -> None:
    identities: list[ChildIdentity] = []

    def journal_full(identity: ChildIdentity) -> None:
        identities.append(identity)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        run(["sleep", "30"], on_start=journal_full)
    assert not alive(identities[0].pid)


def test_a_missing_program_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match=r"no-such-tool is not installed or not on PATH \(/nowhere\)"):
        run(["no-such-tool", "--version"], env={"PATH": "/nowhere"})
    with pytest.raises(EngineError, match="cannot run /nowhere/tool: it does not exist"):
        run(["/nowhere/tool"])


def test_secrets_never_reach_the_command_line() -> None:
    registry.add("hunter2-very-secret", "NAS_PASSWORD")
    with pytest.raises(EngineError, match=r"would show a secret \(--password=\$\{NAS_PASSWORD\}\)") as caught:
        run(["echo", "--password=hunter2-very-secret"])
    assert "hunter2" not in str(caught.value)
    with pytest.raises(EngineError, match="would show a secret"):
        run(["echo", "https://user:pa55word@example.com/x"])


def test_secrets_passed_in_the_environment_stay_out_of_the_command_line() -> None:
    seen: dict[str, bytes] = {}

    def look(identity: ChildIdentity) -> None:
        process = Path(f"/proc/{identity.pid}")
        # setpriv is still replacing itself with sleep: look once sleep runs.
        assert wait_until(lambda: (process / "cmdline").read_bytes().startswith(b"sleep\0"), 2)
        seen["cmdline"] = (process / "cmdline").read_bytes()
        seen["environ"] = (process / "environ").read_bytes()

    run(["sleep", "0.3"], env={**ENV, "RSYNC_PASSWORD": "canary-7f3a9"}, on_start=look)
    assert b"canary-7f3a9" in seen["environ"]
    assert b"canary-7f3a9" not in seen["cmdline"]


@pytest.mark.slow
def test_a_child_outlives_the_thread_that_started_it() -> None:
    started: list[execute.RunningChild] = []
    thread = threading.Thread(target=lambda: started.append(start_process(["sleep", "30"], env=ENV)))
    thread.start()
    thread.join()
    child = started[0]
    time.sleep(0.5)
    assert alive(child.identity.pid)
    result = asyncio.run(supervise(child, timeout=0.1, stop_grace=2))
    assert result.timed_out and result.signal == signal.SIGTERM


@pytest.mark.slow
@pytest.mark.skipif(execute.setpriv_path() is None, reason="needs setpriv")
def test_without_the_spawner_thread_a_short_lived_thread_takes_its_child_along() -> None:
    # The hazard the spawner thread exists for: the parent-death signal follows the forking thread.
    started: list[subprocess.Popen[bytes]] = []
    argv = [str(execute.setpriv_path()), "--pdeathsig", "KILL", "--", "sleep", "30"]

    def start_then_exit() -> None:
        started.append(subprocess.Popen(argv))
        time.sleep(0.3)  # let setpriv set the signal while this thread is still its parent

    thread = threading.Thread(target=start_then_exit)
    thread.start()
    thread.join()
    assert started[0].wait(timeout=5) == -signal.SIGKILL


@pytest.mark.slow
def test_killing_backupplan_with_sigkill_leaves_no_rsync_behind(tmp_path: Path) -> None:
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    destination = tmp_path / "destination"
    script = tmp_path / "parent.py"
    script.write_text(
        "import asyncio, os, sys\n"
        "from backupplan.process.execute import run_process\n"
        "def started(identity):\n"
        "    print(identity.pid, flush=True)\n"
        "asyncio.run(run_process(sys.argv[1:], env=dict(os.environ), on_start=started))\n"
    )
    argv = [PYTHON, str(script), "rsync", "--archive", "--bwlimit=500", f"{source}/", f"{destination}/"]
    parent = subprocess.Popen(argv, stdout=subprocess.PIPE, env=backupplan_env())
    try:
        assert parent.stdout is not None
        rsync_pid = int(parent.stdout.readline())
        assert wait_until(lambda: len(list(destination.glob(".big.bin.*"))) == 1, 5)  # it is copying
        parent.kill()
        parent.wait()
        assert wait_until(lambda: not alive(rsync_pid), 2)
        assert wait_until(lambda: not _rsyncs_writing(destination), 2)
    finally:
        parent.kill()
        parent.wait()


def _rsyncs_writing(destination: Path) -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and _safe_read(entry / "cmdline").find(os.fsencode(destination)) >= 0
        and alive(int(entry.name))
    ]


def _safe_read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _orphan_sleep() -> int:
    """Start a `sleep` that belongs to no one here (re-parented to init), in its own session."""
    shell = subprocess.run(
        ["setsid", "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        check=True,
        text=True,
    )
    return int(shell.stdout)


def test_stop_survivor_stops_exactly_the_recorded_group() -> None:
    pid = _orphan_sleep()
    try:
        identity = identity_of(pid)
        assert not stop_survivor(ChildIdentity(pid, identity.pgid, identity.start_time + 1, boot_id()))
        assert not stop_survivor(ChildIdentity(pid, identity.pgid, identity.start_time, "another-boot"))
        assert alive(pid)  # a reused pid or another boot: never touched
        assert stop_survivor(identity, grace=2)
        assert not alive(pid)
        assert not stop_survivor(identity, grace=2)  # nothing left the second time
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_stop_survivor_kills_what_ignores_term() -> None:
    shell = subprocess.run(
        ["setsid", "sh", "-c", "trap '' TERM; exec sleep 30 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        check=True,
        text=True,
    )
    pid = int(shell.stdout)
    identity = identity_of(pid)
    started = time.monotonic()
    try:
        assert stop_survivor(identity, grace=0.3)
        assert not alive(pid)
        assert time.monotonic() - started < 3
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_stop_survivor_stops_an_orphaned_rsync_and_its_helpers(tmp_path: Path) -> None:
    # What a crash leaves: an rsync (and the processes it forked) adopted by init, still copying.
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    destination = tmp_path / "backup"
    partial = f"--partial-dir={destination}/.backupplan-partial"
    shell = subprocess.run(
        [
            "setsid",
            "sh",
            "-c",
            f'rsync -a --bwlimit=2000 {partial} "$0" "$1" >/dev/null 2>&1 & echo $!',
            f"{source}/",
            f"{destination}/",
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    identity = identity_of(int(shell.stdout))
    assert wait_until(lambda: len(group_members(identity.pgid)) == 3, 5)  # sender, receiver, generator
    assert stop_survivor(identity, grace=5)
    assert group_members(identity.pgid) == []
    assert not (destination / "big.bin").exists()
    assert (destination / ".backupplan-partial" / "big.bin").exists()  # TERM let rsync keep the partial


def test_identity_record_round_trip() -> None:
    identity = ChildIdentity(pid=10, pgid=10, start_time=12345, boot_id="b")
    assert identity.to_record() == {"pid": 10, "pgid": 10, "start_time": 12345, "boot_id": "b"}
    assert ChildIdentity.from_record(identity.to_record()) == identity
    with pytest.raises(ValueError, match="needs 'boot_id'"):
        ChildIdentity.from_record({"pid": 1, "pgid": 1, "start_time": 1})
    with pytest.raises(ValueError, match="positive integers"):
        ChildIdentity.from_record({"pid": "1", "pgid": 1, "start_time": 1, "boot_id": "b"})


@pytest.mark.slow
def test_run_short() -> None:
    version = run_short(["rsync", "--version"])
    assert version.exit_code == 0 and version.stdout.startswith(b"rsync  version")
    started = time.monotonic()
    slow = run_short(["sleep", "30"], timeout=0.3)
    assert slow.timed_out and slow.signal == signal.SIGKILL and time.monotonic() - started < 2
    with pytest.raises(EngineError, match="not installed"):
        run_short(["no-such-tool"], env={"PATH": "/nowhere"})


def test_a_forked_backupplan_can_still_start_children() -> None:
    run_short(["true"])  # the spawner thread exists in this process now; a fork does not copy it
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child process
        try:
            os._exit(0 if run_short(["true"], timeout=5).exit_code == 0 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
