"""Quick probes of remote sources and destinations, each bounded by a timeout, run concurrently.

- ssh (`host:path`): the address `ssh -G` resolves (aliases and ports of ~/.ssh/config included),
  a TCP connection and the server's `SSH-` greeting; no login is tried (it could prompt).
- rsync daemon (`rsync://host[:port]/module`): a TCP connection and the daemon's `@RSYNCD:` greeting.
- rclone remote (`remote:path`): `rclone lsf --max-depth 1` on the job's path with the job's
  environment (its credentials), through the executor; a destination folder that does not exist
  yet is fine (the first run creates it).
"""

from __future__ import annotations

import math
import os
import queue
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from backupplan.doctor.model import Check, Status
from backupplan.errors import EngineError
from backupplan.plan.locations import Location

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan
    from backupplan.plan.model import Job

Probe = Callable[[], Check]
Address = Callable[[str], tuple[str, int]]
T = TypeVar("T")
MAX_PROBES = 16  # probes at a time: a plan of 500 rclone jobs must not start 500 rclones at once
# `2026/11/28 14:24:14 ERROR : ` and `Failed to lsf with 2 errors: last error was: ` say nothing.
_RCLONE_PREFIX = re.compile(
    r"^(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?:[A-Z]+ *: )?)?"
    r"(?:Failed to lsf with \d+ errors?: last error was: )?"
)


def _check(
    name: str, status: Status, message: str, hint: str | None = None, facts: Mapping[str, Any] | None = None
) -> Check:
    job, role = name.rsplit(".", 1)
    return Check("locations", name, status, f"{job}: {role} {message}", hint, facts or {})


class Once:
    """Runs a function once per key for one doctor run, however many probes ask at the same time:
    a hundred jobs on one NAS make one connection to it, not a hundred."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Hashable, Future[Any]] = {}

    def __call__(self, key: Hashable, function: Callable[[], T]) -> T:
        with self._lock:
            future = self._futures.get(key)
            first = future is None
            if future is None:
                future = self._futures[key] = Future()
        if first:
            try:
                future.set_result(function())
            except BaseException as error:
                future.set_exception(error)
        result: T = future.result()
        return result


def run_probes(probes: Mapping[str, Probe], timeout: float, workers: int = MAX_PROBES) -> dict[str, Check]:
    """Run the probes, `workers` at a time, each in a daemon thread; return each one's check. A
    probe that has not finished when all of them should have (every probe is bounded by `timeout`)
    is reported as not answering; being a daemon, its thread never keeps the process alive."""
    results: dict[str, Check] = {}
    lock = threading.Lock()
    waiting: queue.SimpleQueue[tuple[str, Probe]] = queue.SimpleQueue()
    for item in probes.items():
        waiting.put(item)

    def work() -> None:
        while True:
            try:
                name, probe = waiting.get_nowait()
            except queue.Empty:
                return
            try:
                check = probe()
            except Exception as error:  # one probe's bug must not take the others down
                check = _check(name, "fail", f"could not be probed: {error}")
            with lock:
                results[name] = check

    count = max(1, min(workers, len(probes)))
    threads = [threading.Thread(target=work, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout * math.ceil(len(probes) / count) + 1.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for name in probes:
            if name not in results:
                hint = "check the network, the host name and the firewall"
                results[name] = _check(name, "fail", f"did not answer within {timeout:.0f} s", hint)
        return dict(results)


def remote_probe(
    name: str, role: str, location: Location, job: Job, loaded: LoadedPlan, timeout: float, once: Once
) -> Probe:
    """The probe for one remote source or destination; `once` shares what several probe alike."""
    if location.kind == "rclone_remote":
        return lambda: rclone_probe(name, role, location, job, loaded, timeout, once)
    if location.kind == "ssh":
        return lambda: ssh_probe(name, location, timeout, once=once, job=job)
    return lambda: daemon_probe(name, location, timeout, once=once)


def greeting(host: str, port: int, timeout: float) -> bytes:
    """Connect to host:port and return the first bytes the server sends (b"" when it says nothing
    within `timeout`); raise OSError when the connection fails."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.settimeout(timeout)
        try:
            return connection.recv(256)
        except TimeoutError:
            return b""


def _reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"the name does not resolve ({error.strerror})"
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    return error.strerror or str(error)


def ssh_address(host: str) -> tuple[str, int]:
    """The host and port ssh would connect to for `host` (its config read by `ssh -G`), or
    (host, 22) when ssh cannot tell."""
    from backupplan.process.execute import run_short

    program = shutil.which("ssh")
    if program is None:
        return host, 22
    try:
        result = run_short([program, "-G", "--", host], timeout=5.0)
    except EngineError:
        return host, 22
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    settings = dict(line.split(" ", 1) for line in lines if " " in line)
    try:
        return settings.get("hostname", host), int(settings.get("port", "22"))
    except ValueError:
        return host, 22


def ssh_probe(
    name: str,
    location: Location,
    timeout: float,
    address: Address | None = None,
    once: Once | None = None,
    job: Job | None = None,
) -> Check:
    """Does the ssh server of `host:path` answer, and (given the job) does it let the job's key in,
    with an rsync new enough, and how much room is there? `address` turns the plan's host into the
    address to connect to (default: what `ssh -G` says, or the job's ssh port)."""
    assert location.host is not None
    once = once or Once()
    plan_host = location.host
    port_set = location.port or (job.ssh.port if job is not None else None)
    if port_set is not None and address is None:
        host, port = plan_host, port_set
    else:
        host, port = once(("ssh -G", plan_host), lambda: (address or ssh_address)(plan_host))
    facts: dict[str, Any] = {"kind": "ssh", "location": location.text, "host": host, "port": port}
    try:
        first = once(("greeting", host, port), lambda: greeting(host, port, timeout))
    except OSError as error:
        text = f"{location.text}: cannot connect to {host}:{port}: {_reason(error)}"
        return _check(name, "fail", text, "is the host up and its ssh server running?", facts)
    if not first.startswith(b"SSH-"):
        text = f"{location.text}: {host}:{port} accepts connections but sent no ssh greeting"
        return _check(name, "warn", text, "check that an ssh server listens there", facts)
    facts["greeting"] = first.splitlines()[0].decode("ascii", "replace")
    if job is None or job.engine != "rsync":
        text = f"{location.text}: the ssh server at {host}:{port} answered ({facts['greeting']})"
        text += "; login not tried"
        return _check(name, "ok", text, None, facts)
    return ssh_login_check(name, location, job, timeout, facts)


def ssh_login_check(name: str, location: Location, job: Job, timeout: float, facts: dict[str, Any]) -> Check:
    """Log in as the job does (its key, known_hosts and host-key policy; BatchMode) and ask the
    remote side for its rsync's version and the free space where the backup goes."""
    import shlex

    from backupplan.engines.ssh import ssh_problem
    from backupplan.process.execute import run_short
    from backupplan.runner.transfer import rsh_of
    from backupplan.status.tools import RSYNC_MKPATH, version_key

    target = (location.operand or location.text).split(":", 1)[0]
    folder = shlex.quote(location.path or ".")
    command = f"rsync --version | head -n 1; df -Pk {folder} 2>/dev/null || df -Pk $(dirname {folder})"
    try:
        result = run_short([*rsh_of(job, location), "--", target, command], timeout=timeout + 5)
    except EngineError as error:
        return _check(
            name, "fail", f"{location.text}: ssh cannot be run: {error}", "install openssh-client", facts
        )
    errors = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if result.exit_code != 0 and not result.stdout.startswith(b"rsync"):
        problem = ssh_problem(errors, location.host or target, result.exit_code)
        message = (
            problem.message
            if problem
            else f"login failed (exit {result.exit_code}): {' '.join(errors)[:200]}"
        )
        hint = problem.hint if problem else "try `ssh` with the job's options by hand"
        return _check(name, "fail", f"{location.text}: {message}", hint, facts)
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    version = lines[0].split("version", 1)[1].split()[0] if lines and "version" in lines[0] else None
    facts["remote_rsync"] = version
    if version is None:
        hint = "install rsync on the remote host, or pass --rsync-path in the job's extra_args"
        return _check(name, "fail", f"{location.text}: no rsync on {target}", hint, facts)
    if version_key(version) < version_key(RSYNC_MKPATH):
        hint = f"upgrade rsync on {target} to {RSYNC_MKPATH} or later (backupplan passes --mkpath)"
        return _check(name, "warn", f"{location.text}: rsync {version} on {target} is too old", hint, facts)
    free = _free_kilobytes(lines[1:])
    facts["free_bytes"] = None if free is None else free * 1024
    room = "" if free is None else f"; {free / 1024 / 1024:.1f} GiB free there"
    text = f"{location.text}: logged in with the job's key; rsync {version} on {target}{room}"
    return _check(name, "ok", text, None, facts)


def _free_kilobytes(lines: list[str]) -> int | None:
    """The `Available` column of `df -Pk`'s data line."""
    for line in reversed(lines):
        fields = line.split()
        if len(fields) >= 6 and fields[3].isdigit():
            return int(fields[3])
    return None


def daemon_probe(name: str, location: Location, timeout: float, once: Once | None = None) -> Check:
    """Does the rsync daemon of `rsync://host:port/…` answer with its greeting?"""
    assert location.host is not None and location.port is not None
    host, port = location.host, location.port
    facts: dict[str, Any] = {"kind": "rsync_daemon", "location": location.text, "host": host, "port": port}
    try:
        first = (once or Once())(("greeting", host, port), lambda: greeting(host, port, timeout))
    except OSError as error:
        text = f"{location.text}: cannot connect to {host}:{port}: {_reason(error)}"
        return _check(name, "fail", text, "is the rsync daemon running and its port open?", facts)
    if not first.startswith(b"@RSYNCD:"):
        text = f"{location.text}: {host}:{port} answers, but not as an rsync daemon"
        return _check(name, "fail", text, "check the host and port in the plan", facts)
    facts["protocol"] = first.splitlines()[0].removeprefix(b"@RSYNCD:").split()[0].decode("ascii", "replace")
    text = f"{location.text}: the rsync daemon at {host}:{port} answered (protocol {facts['protocol']})"
    return _check(name, "ok", text, None, facts)


def rclone_probe(
    name: str,
    role: str,
    location: Location,
    job: Job,
    loaded: LoadedPlan,
    timeout: float,
    once: Once | None = None,
) -> Check:
    """List the job's remote path one level deep with the job's credentials (what a run reads first)."""
    from backupplan.engines import ENGINES
    from backupplan.engines.base import decode, one_line
    from backupplan.process.execute import run_short
    from backupplan.runner.transfer import transfer_spec

    facts: dict[str, Any] = {"kind": "rclone_remote", "location": location.text, "remote": location.host}
    if shutil.which("rclone") is None:
        return _check(name, "info", f"{location.text}: not probed: rclone is not installed", None, facts)
    seconds = f"{max(1, round(timeout))}s"
    argv = ["rclone", "lsf", "--max-depth=1", f"--contimeout={seconds}", f"--timeout={seconds}",
            "--retries=1", "--low-level-retries=1", "--", location.text]  # fmt: skip
    environment = ENGINES["rclone"].environment(transfer_spec(job, loaded.base_dir), os.environ)
    try:
        key = ("rclone lsf", location.text, tuple(sorted(job.env.items())))
        result = (once or Once())(key, lambda: run_short(argv, env=environment, timeout=timeout))
    except EngineError as error:
        return _check(name, "fail", f"{location.text}: cannot be probed: {error}", None, facts)
    facts["exit_code"] = result.exit_code
    if result.timed_out:
        hint = "check the network and the remote's address"
        return _check(name, "fail", f"{location.text}: no answer within {timeout:.0f} s", hint, facts)
    if result.exit_code == 0:
        return _check(name, "ok", f"{location.text}: the remote answered and lists it", None, facts)
    if result.exit_code == 3 and role == "destination":  # directory not found
        text = (
            f"{location.text}: the remote answered; the folder does not exist yet (the first run creates it)"
        )
        return _check(name, "ok", text, None, facts)
    lines = [line for line in decode(result.stderr).splitlines() if line.strip()]
    reason = one_line(_RCLONE_PREFIX.sub("", lines[-1])) if lines else f"exit {result.exit_code}"
    hint = "check the remote's configuration and credentials (`rclone config`, the job's env)"
    return _check(name, "fail", f"{location.text}: {reason}", hint, facts)
