"""Every row of "fast where people wait" in one command, each against its anchor in the same run.

    /work/main/.venv/bin/python bench/waits.py [--quick]

It runs the benchmarks that own the rows, one after the other (never side by side: they would
slow each other), and prints their output under a heading per row group:

- start-up: `status`, `validate`, `logs`, `check` of a small plan, cold, with and without the
  plan cache (startup.py; anchors `python -c pass` and `rsnapshot configtest`);
- `backupplan run` with nothing to copy, and a full copy, medium tree (runner.py; raw
  `rsync -aHAXS`);
- a snapshot after a day of changes, as `backupplan run` (snapshots.py; rsnapshot);
- `logs --grep` over 4M lines (logs.py; grep);
- a dashboard poll of 1,000 jobs, a poll while one of 10 jobs runs (live.py, nginx; status.json
  fetched whole);
- a site rebuild after one run, 1,000 jobs x 100 runs (site.py; os.write of the same bytes).

`--quick` runs smaller sizes (fewer rounds, a small tree, 500,000 log lines) for a check that the
scripts still work; its figures are not the ones to report.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    steps = [
        ("start-up of the commands people type", ["startup.py", "--runs", "5" if quick else "11"]),
        (
            "backupplan run against raw rsync",
            ["runner.py", "--engines", "rsync", "--rounds", "1" if quick else "3"]
            + (["--preset", "small"] if quick else []),
        ),
        (
            "a snapshot after a day of changes, against rsnapshot",
            ["snapshots.py", "--rounds", "1" if quick else "3", "--prune-rounds", "0"]
            + (["--preset", "small"] if quick else []),
        ),
        (
            "logs --grep against grep",
            ["logs.py", "--repeat", "1" if quick else "3"] + (["--runs", "5"] if quick else []),
        ),
        ("live updates on the wire (nginx)", ["live.py"] + (["--ticks", "5"] if quick else [])),
        ("site rebuild after one run", ["site.py", "--quick"] + (["--runs", "10"] if quick else [])),
    ]
    failed = []
    for title, (script, *arguments) in steps:
        print(f"\n=== {title} (bench/{script} {' '.join(arguments)})", flush=True)
        start = time.monotonic()
        result = subprocess.run([sys.executable, str(HERE / script), *arguments], check=False)
        print(f"--- {time.monotonic() - start:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
