"""Processes on this machine, seen through /proc: what a test left running, and the processes a
server fixture started (found by parent, named by pid and start time so a reused pid is never
signalled)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of every living process (not a zombie, not one already killed, not this
    one) whose command line contains `text`."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            if needle not in command or state == b"Z" or _killed(entry):
                continue
        except OSError:
            continue
        found.append((int(entry.name), command.replace(b"\0", b" ").decode(errors="replace")))
    return found


def _killed(entry: Path) -> bool:
    """Whether a SIGKILL waits for this process: it was killed, and ends as soon as the system call
    it sleeps in returns (an `rm` unlinking while the disk is busy can take seconds)."""
    for line in (entry / "status").read_text().splitlines():
        name, _, mask = line.partition(":")
        if name in {"SigPnd", "ShdPnd"} and int(mask, 16) & 1 << (signal.SIGKILL - 1):
            return True
    return False


def assert_nothing_left_running(folder: Path) -> None:
    """Fail when a process (rsync, cp, rm, backupplan) is still working on files under `folder`."""
    leftovers = processes_mentioning(str(folder))
    assert leftovers == [], f"processes left running: {leftovers}"


@dataclass(frozen=True)
class Proc:
    """One process as /proc/PID/stat shows it."""

    pid: int
    ppid: int
    pgid: int
    start: int  # clock ticks after boot: with `pid`, names this process even after its pid is reused
    state: str
    command: str

    @property
    def identity(self) -> tuple[int, int]:
        """Given this process, return (pid, start time): a name that no later process shares."""
        return (self.pid, self.start)


def read_proc(pid: int) -> Proc | None:
    """Given a pid, return that process as /proc shows it, or None when it does not exist (any more)."""
    base = Path("/proc") / str(pid)
    try:
        stat = (base / "stat").read_bytes()
        command = (base / "cmdline").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[1].split()
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        start=int(fields[19]),
        state=fields[0].decode(),
        command=command.replace(b"\0", b" ").decode(errors="replace").strip(),
    )


def process_table() -> dict[int, Proc]:
    """Given nothing, return every process on this machine by pid (zombies included)."""
    table: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = read_proc(int(entry.name))
            if found is not None:
                table[found.pid] = found
    return table


def descendants(roots: Iterable[int], table: dict[int, Proc]) -> dict[int, Proc]:
    """Given pids and a process table, return every process below them in the parent chain (the roots
    themselves excluded)."""
    children: dict[int, list[Proc]] = {}
    for process in table.values():
        children.setdefault(process.ppid, []).append(process)
    found: dict[int, Proc] = {}
    pending = list(roots)
    while pending:
        for child in children.get(pending.pop(), []):
            if child.pid not in found:
                found[child.pid] = child
                pending.append(child.pid)
    return found


def alive(process: Proc) -> bool:
    """Given a process seen earlier, return whether that same process still runs (not a zombie)."""
    now = read_proc(process.pid)
    return now is not None and now.start == process.start and now.state not in {"Z", "X", "x"}


def send(process: Proc, number: int) -> None:
    """Given a process seen earlier, send it signal `number` unless it is gone or its pid was reused."""
    now = read_proc(process.pid)
    if now is not None and now.start == process.start:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, number)


def wait_gone(processes: Iterable[Proc], timeout: float) -> list[Proc]:
    """Given processes, wait up to `timeout` seconds for all to end; return those still running."""
    remaining = list(processes)
    deadline = time.monotonic() + timeout
    while True:
        remaining = [process for process in remaining if alive(process)]
        if not remaining or time.monotonic() >= deadline:
            return remaining
        time.sleep(0.02)


def wait_stopped(processes: Iterable[Proc], timeout: float) -> None:
    """Given processes just sent SIGSTOP, wait up to `timeout` seconds until each is stopped or gone."""
    deadline = time.monotonic() + timeout
    pending = list(processes)
    while pending and time.monotonic() < deadline:
        pending = [
            process
            for process in pending
            if (now := read_proc(process.pid)) is not None
            and now.start == process.start
            and now.state not in {"T", "t", "Z", "X", "x"}
        ]
        if pending:
            time.sleep(0.005)
