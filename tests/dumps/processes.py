"""Finding a dump program while it runs, through /proc, to look at its command line or kill it."""

from __future__ import annotations

import os
import time
from pathlib import Path


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def find_dumper(program: str, marker: str, timeout: float = 60.0) -> tuple[int, list[str]]:
    """Given a program name and a text its command line holds (the temporary file it writes), wait
    for that process to appear and return its pid and argv."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                argv = cmdline(int(entry))
                if argv and Path(argv[0]).name == program and any(marker in part for part in argv):
                    return int(entry), argv
        time.sleep(0.01)
    raise AssertionError(f"no {program} writing {marker} appeared within {timeout}s")


def wait_until_written(path: Path, size: int, timeout: float = 60.0) -> int:
    """Wait until the file at `path` holds at least `size` bytes; return how many it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            written = path.stat().st_size
        except FileNotFoundError:
            written = 0
        if written >= size:
            return written
        time.sleep(0.005)
    raise AssertionError(f"{path} did not reach {size} bytes within {timeout}s")
