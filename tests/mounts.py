"""Small file systems mounted by a test (CI runs as root): a tmpfs that fills up for real."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(mount_point: Path, size: str = "4m", mode: str = "700") -> Iterator[Path]:
    """Mount a tmpfs of `size` on `mount_point` (created; its root gets `mode`, private by default
    like a state dir) for the block; unmount it after.

    Skips the test with the reason only where mounting is impossible (not root); as root a
    failure to mount fails the test.
    """
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        if os.geteuid() != 0:
            pytest.skip(f"mounting a tmpfs needs root: {done.stderr.strip()}")
        raise AssertionError(f"mount failed: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def fill(folder: Path, name: str = "filler.bin") -> Path:
    """Write zeros into `folder/name` until its file system is full (down to the last block);
    return the file."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            block = b"\0" * size
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, block)
    finally:
        os.close(fd)
    return path
