"""What backupplan spends on each line rsync prints during a copy, against splitting the same bytes.

    /work/main/.venv/bin/python bench/output.py [--preset medium] [--repeat 7]

A full copy prints two records per file (an itemized `%i %n` line and a progress record). Each
record goes through the same steps as in a run: the rsync parser (progress, itemized changes),
the changes list (gzip) and the run log (masked, stamped). The output is that of a real
`rsync --dry-run` of the tree into an empty folder with the options a job uses, so its names and
progress records are rsync's own. The anchor is the split of the same bytes into records alone
(process/pipes.py does that before any of this). Prints the medians in ms and per file in µs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runner import prepare_tree

from backupplan.engines.changes import Changes
from backupplan.engines.rsync_output import RsyncParser
from backupplan.runner.changelist import ChangeList
from backupplan.runner.logfile import RunLog
from backupplan.runner.transfer import readable


def rsync_output(source: Path, empty: Path) -> bytes:
    argv = ["rsync", "--archive", "--hard-links", "--acls", "--xattrs", "--sparse", "--dry-run"]
    argv += ["--no-inc-recursive", "--info=progress2", "--stats", "--out-format=%i %n"]
    return subprocess.run([*argv, f"{source}/", str(empty)], capture_output=True, check=True).stdout


def split(data: bytes) -> list[bytes]:
    return [record for record in data.replace(b"\r", b"\n").split(b"\n") if record]


def handle(records: list[bytes], folder: Path) -> None:
    """What a run does with each record (runner/transfer.py, on_record)."""
    log = RunLog(folder / "logs" / "bench" / f"{time.monotonic_ns()}.log")
    listing = ChangeList(folder / f"{time.monotonic_ns()}.changes.gz")
    parser = RsyncParser(changes=Changes(sink=listing.add))
    for record in records:
        parser.feed(record, "stdout")
        if not parser.last_was_progress:
            log.output("rsync", readable(record))
    log.close()
    listing.close()


def timed(action: Callable[..., object], *arguments: object) -> float:
    started = time.perf_counter()
    action(*arguments)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    source = prepare_tree(args.preset)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "empty").mkdir()
        data = rsync_output(source, folder / "empty")
        records = split(data)
        files = sum(1 for record in records if record.startswith(b">f"))
        anchor = [timed(split, data) for _ in range(args.repeat)]
        spent = [timed(handle, records, folder) for _ in range(args.repeat)]
    print(f"rsync's output of a full copy of {files:,} files: {len(data):,} bytes, {len(records):,} records")
    print(f"  split into records (anchor): {statistics.median(anchor) * 1000:7.1f} ms")
    handled = statistics.median(spent)
    print(
        f"  parsed, listed and logged:   {handled * 1000:7.1f} ms  "
        f"({handled / files * 1e6:.1f} µs per file; {handled / statistics.median(anchor):.0f}x the split)"
    )


if __name__ == "__main__":
    main()
