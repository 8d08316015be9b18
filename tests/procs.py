"""Processes on this machine, seen through /proc: what a test left running."""

from __future__ import annotations

import os
from pathlib import Path


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of every living process (not a zombie, not this one) whose command line
    contains `text`."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in command and state != b"Z":
            found.append((int(entry.name), command.replace(b"\0", b" ").decode(errors="replace")))
    return found


def assert_nothing_left_running(folder: Path) -> None:
    """Fail when a process (rsync, cp, rm, backupplan) is still working on files under `folder`."""
    leftovers = processes_mentioning(str(folder))
    assert leftovers == [], f"processes left running: {leftovers}"
