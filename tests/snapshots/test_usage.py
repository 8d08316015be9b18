"""What snapshots hold and cost: files, total size, size unique to each, all of them together."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from backupplan.snapshots import measure, read_listing

A, B, C = "2026-01-01T020000Z", "2026-01-02T020000Z", "2026-01-03T020000Z"


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_unique_size_counts_inodes_found_in_no_other_snapshot(tmp_path: Path) -> None:
    write(tmp_path / A / "a.txt", 100)
    write(tmp_path / A / "sub" / "b.txt", 200)
    subprocess.run(["cp", "-al", str(tmp_path / A), str(tmp_path / B)], check=True)
    (tmp_path / B / "sub" / "b.txt").unlink()
    write(tmp_path / B / "sub" / "b.txt", 250)  # changed: a new inode
    write(tmp_path / B / "c.txt", 300)  # new
    subprocess.run(["cp", "-al", str(tmp_path / B), str(tmp_path / C)], check=True)
    os.link(tmp_path / C / "c.txt", tmp_path / C / "c-again.txt")  # a hard link inside one snapshot
    (tmp_path / f"{C}.partial").mkdir()
    os.link(tmp_path / A / "sub" / "b.txt", tmp_path / f"{C}.partial" / "b.txt")  # not a snapshot

    measurement = measure(read_listing(tmp_path))

    assert [(usage.id, usage.files, usage.bytes, usage.unique_bytes) for usage in measurement.snapshots] == [
        (A, 2, 300, 200),  # the old b.txt is linked from a .partial only: it is A's alone
        (B, 3, 650, 0),  # everything B has, C has too
        (C, 4, 950, 0),
    ]
    assert measurement.distinct_bytes == 100 + 200 + 250 + 300
