"""The one module that starts processes: rsync, rclone and hooks all go through here.

Every child
- gets its own session and process group, so that stopping it stops everything it started;
- is wrapped in `setpriv --pdeathsig KILL --` (when setpriv exists), so that it is killed when
  backupplan dies, even by SIGKILL. The parent-death signal fires when the *thread* that forked the
  child exits, so children are forked by one long-lived spawner thread, never by the caller's
  thread: a child survives the exit of whatever thread asked for it;
- never sees a secret on its command line (any local user can read /proc/PID/cmdline): argv that
  holds a registered secret value or a URL password is refused before anything starts;
- is read as binary, with records split on both '\\r' and '\\n' (rsync ends progress records with
  '\\r'; text mode would hold each one back until the next byte arrives);
- is stopped on a wall-clock timeout or on request: TERM to the group, KILL after a grace.

`run_process` is the coroutine the runner uses; `start_process` + `supervise` are its two halves;
`run_short` runs a quick command like `rsync --version` synchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backupplan.errors import EngineError
from backupplan.process.pipes import MAX_RECORD, RecordCallback, RecordReader
from backupplan.process.procfs import ChildIdentity, group_members, identity_of, stop_survivor
from backupplan.process.spawner import Spawner
from backupplan.secrets import mask

__all__ = [
    "MAX_RECORD",
    "ChildIdentity",
    "ProcessResult",
    "RunningChild",
    "ShortResult",
    "run_process",
    "run_short",
    "start_process",
    "stop_survivor",
    "supervise",
]

StartCallback = Callable[[ChildIdentity], None]

PIPE_DRAIN_TIMEOUT = 2.0  # after the child exits, wait this long for its pipes to close
KILL_WAIT = 30.0  # after KILL, a process that still has not exited is stuck in the kernel
GROUP_POLL = 0.05
PIPE_SIZE = 1 << 20  # Linux's default limit for pipe buffers (64 KiB otherwise): see RecordReader


@dataclass(frozen=True)
class ProcessResult:
    """How a child ended. `exit_code` is None when a signal ended it (`signal` says which)."""

    argv: tuple[str, ...]
    identity: ChildIdentity
    exit_code: int | None
    signal: int | None
    timed_out: bool
    cancelled: bool
    killed: bool  # it had to be sent KILL: it ignored TERM for the whole grace
    duration: float


@dataclass(frozen=True)
class ShortResult:
    """What a short command printed and how it ended."""

    argv: tuple[str, ...]
    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool


@dataclass
class RunningChild:
    """A started child: its identity, and the handles `supervise` needs."""

    argv: tuple[str, ...]
    identity: ChildIdentity
    popen: subprocess.Popen[bytes]
    pidfd: int | None
    started: float


_SETPRIV = shutil.which("setpriv")


def setpriv_path() -> str | None:
    """Return the setpriv program that sets the parent-death signal, or None when there is none."""
    return _SETPRIV


_spawner: Spawner[RunningChild] = Spawner()


def _check_argv(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str, ...]:
    if not argv:
        raise EngineError("nothing to run: the command line is empty")
    argv = tuple(argv)
    for argument in argv:
        if mask(argument) != argument:
            raise EngineError(
                f"refusing to run {argv[0]}: its command line would show a secret "
                f"({mask(argument)}), and any local user can read command lines; "
                "pass the secret through the job's env instead"
            )
    program = argv[0]
    if os.sep in program:
        if not os.access(program, os.X_OK):
            raise EngineError(f"cannot run {program}: it does not exist or is not executable")
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise EngineError(
            f"{program} is not installed or not on PATH ({env.get('PATH', os.defpath)}): "
            f"install it (e.g. apt-get install {program}) or fix PATH"
        )
    return argv


def _spawn(argv: tuple[str, ...], env: Mapping[str, str], cwd: str | None, capture: bool) -> RunningChild:
    full = (_SETPRIV, "--pdeathsig", "KILL", "--", *argv) if _SETPRIV else argv
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    try:
        popen = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as error:
        raise EngineError(f"cannot start {argv[0]}: {error.strerror or error}") from None
    started = time.monotonic()
    for stream in (popen.stdout, popen.stderr):
        if stream is not None:  # room for what arrives while reads are paused (see RecordReader)
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    pidfd: int | None = None
    with contextlib.suppress(OSError, AttributeError):
        pidfd = os.pidfd_open(popen.pid)
    return RunningChild(argv, identity_of(popen.pid), popen, pidfd, started)


def start_process(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None = None, capture: bool = True
) -> RunningChild:
    """Given argv and the complete environment, start the child from the spawner thread and return
    it; raise EngineError when the program is missing, argv holds a secret or the start fails.
    Any thread may call this; the child outlives the calling thread."""
    checked = _check_argv(argv, env)
    return _spawner.submit(lambda: _spawn(checked, env, cwd, capture)).result()


def _signal_group(pgid: int, signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal_number)


def _watch_exit(child: RunningChild, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    # Resolves when the child has exited but before it is reaped: while it is a zombie its pid
    # (and so its process group id) cannot be reused, which makes the final killpg safe.
    exited: asyncio.Future[None] = loop.create_future()

    def done() -> None:
        if not exited.done():
            exited.set_result(None)

    if child.pidfd is not None:
        loop.add_reader(child.pidfd, done)
    else:
        waiting = loop.run_in_executor(
            None, lambda: os.waitid(os.P_PID, child.identity.pid, os.WEXITED | os.WNOWAIT)
        )
        waiting.add_done_callback(lambda _: done())
    return exited


def _abandon(child: RunningChild, transports: Sequence[asyncio.BaseTransport], grace: float) -> None:
    """Stop and reap a child in the background when its supervisor cannot wait for it (its task was
    cancelled, or the child ignores even KILL for now)."""
    for transport in transports:
        transport.close()

    def work() -> None:
        deadline = time.monotonic() + grace
        while (not _has_exited(child) or _others_in_group(child)) and time.monotonic() < deadline:
            time.sleep(GROUP_POLL)
        _signal_group(child.identity.pgid, signal.SIGKILL)
        child.popen.wait()
        _close(child)

    threading.Thread(target=work, name="backupplan-reaper", daemon=True).start()


def _has_exited(child: RunningChild) -> bool:
    # WNOWAIT: look without reaping, so that the group id stays ours until the final KILL.
    try:
        return os.waitid(os.P_PID, child.identity.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _others_in_group(child: RunningChild) -> bool:
    return any(member.pid != child.identity.pid for member in group_members(child.identity.pgid))


def _close(child: RunningChild) -> None:
    for stream in (child.popen.stdout, child.popen.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    if child.pidfd is not None:
        with contextlib.suppress(OSError):
            os.close(child.pidfd)
        child.pidfd = None


async def supervise(
    child: RunningChild,
    *,
    on_stdout: RecordCallback | None = None,
    on_stderr: RecordCallback | None = None,
    timeout: float | None = None,
    stop_grace: float = 10.0,
    cancel: asyncio.Event | None = None,
) -> ProcessResult:
    """Given a started child, deliver its output records until it exits; stop its group (TERM, then
    KILL after `stop_grace`) when `timeout` seconds pass or `cancel` is set. Return how it ended.
    Raise what a callback raised (after stopping the child), or EngineError when even KILL did not
    end it. When this task itself is cancelled, the child is stopped in the background."""
    loop = asyncio.get_running_loop()
    broken: list[BaseException] = []
    stop_now = asyncio.Event()

    def failed(error: BaseException) -> None:
        broken.append(error)
        stop_now.set()

    def reader_for(deliver: RecordCallback | None) -> Callable[[], RecordReader]:
        return lambda: RecordReader(deliver, failed)

    readers: list[RecordReader] = []
    transports: list[asyncio.ReadTransport] = []
    for stream, deliver in ((child.popen.stdout, on_stdout), (child.popen.stderr, on_stderr)):
        if stream is not None:
            transport, reader = await loop.connect_read_pipe(reader_for(deliver), stream)
            readers.append(reader)
            transports.append(transport)
    exited = _watch_exit(child, loop)
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop_now.wait())]
    if cancel is not None:
        waits.append(asyncio.ensure_future(cancel.wait()))
    timed_out = cancelled = killed = False

    watching = True

    def unwatch() -> None:
        # Once only: after that a background reaper may close the pidfd and its number be reused.
        nonlocal watching
        if watching:
            watching = False
            for waiter in waits:
                waiter.cancel()
            if child.pidfd is not None:
                loop.remove_reader(child.pidfd)

    try:
        remaining = None if timeout is None else max(0.0, child.started + timeout - time.monotonic())
        first: list[asyncio.Future[Any]] = [exited, *waits]
        await asyncio.wait(first, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():
            cancelled = cancel is not None and cancel.is_set()
            timed_out = not cancelled and not stop_now.is_set()
            killed = await _stop(child, exited, stop_grace)
    except asyncio.CancelledError:
        unwatch()
        _signal_group(child.identity.pgid, signal.SIGTERM)
        _abandon(child, transports, stop_grace)
        raise
    except EngineError:
        unwatch()
        _abandon(child, transports, 0.0)
        raise
    finally:
        unwatch()
    duration = time.monotonic() - child.started
    # The child has exited but is not reaped yet, so its group id is still ours. What it left in
    # the group gets the grace to finish (after TERM, rsync's receiver is still moving the partial
    # file aside when the sender exits); whatever is still there after that is killed.
    deadline = time.monotonic() + stop_grace
    while _others_in_group(child) and time.monotonic() < deadline:
        await asyncio.sleep(GROUP_POLL)
    _signal_group(child.identity.pgid, signal.SIGKILL)
    returncode = child.popen.wait()
    if readers:
        for reader in readers:
            reader.drain()
        await asyncio.wait([reader.closed for reader in readers], timeout=PIPE_DRAIN_TIMEOUT)
    for transport in transports:
        transport.close()
    _close(child)
    if broken:
        raise broken[0]
    return ProcessResult(
        argv=child.argv,
        identity=child.identity,
        exit_code=returncode if returncode >= 0 else None,
        signal=-returncode if returncode < 0 else None,
        timed_out=timed_out,
        cancelled=cancelled,
        killed=killed,
        duration=duration,
    )


async def _stop(child: RunningChild, exited: asyncio.Future[None], grace: float) -> bool:
    """TERM the group, wait `grace`, KILL it; return True when KILL was needed."""
    _signal_group(child.identity.pgid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(exited), grace)
        return False
    _signal_group(child.identity.pgid, signal.SIGKILL)
    try:
        await asyncio.wait_for(asyncio.shield(exited), KILL_WAIT)
    except TimeoutError:
        raise EngineError(
            f"{child.argv[0]} (pid {child.identity.pid}) did not exit {KILL_WAIT:.0f}s after KILL: "
            "it is stuck in the kernel (a hung mount or device?); check `ps -o stat,wchan -p "
            f"{child.identity.pid}`"
        ) from None
    return True


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None = None,
    on_stdout: RecordCallback | None = None,
    on_stderr: RecordCallback | None = None,
    on_start: StartCallback | None = None,
    timeout: float | None = None,
    stop_grace: float = 10.0,
    cancel: asyncio.Event | None = None,
) -> ProcessResult:
    """Given argv and the child's complete environment, run it to the end and return how it ended.

    `on_start(identity)` is called once the child exists and before any output is delivered (the
    runner journals the identity there; if it raises, the child is stopped and the error raised).
    Output records go to `on_stdout`/`on_stderr` as bytes without their '\\r'/'\\n'. `timeout` is a
    wall-clock limit in seconds (None: none); `cancel` stops the child when set. Raise EngineError
    when the program cannot be started."""
    loop = asyncio.get_running_loop()
    checked = _check_argv(argv, env)
    child = await asyncio.wrap_future(_spawner.submit(lambda: _spawn(checked, env, cwd, True)), loop=loop)
    if on_start is not None:
        try:
            on_start(child.identity)
        except BaseException:
            _signal_group(child.identity.pgid, signal.SIGKILL)
            child.popen.wait()
            _close(child)
            raise
    return await supervise(
        child, on_stdout=on_stdout, on_stderr=on_stderr, timeout=timeout, stop_grace=stop_grace, cancel=cancel
    )


def run_short(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 10.0
) -> ShortResult:
    """Given a quick command (`rsync --version`), run it and return its output; KILL its group after
    `timeout` seconds. Raise EngineError when the program is missing or cannot be started."""
    environment = dict(os.environ if env is None else env)
    child = start_process(argv, env=environment)
    timed_out = False
    try:
        stdout, stderr = child.popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _signal_group(child.identity.pgid, signal.SIGKILL)  # not reaped yet: the group id is still ours
        stdout, stderr = child.popen.communicate()
    finally:
        _close(child)
    code = child.popen.returncode
    return ShortResult(
        argv=child.argv,
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out,
    )
