"""Start-up and validation speed, against a bare interpreter measured in the same run.

Run: .venv/bin/python bench/startup.py [--runs N]

Targets (issue: foundation): --help and --version <= 120 ms median in a venv; validate of a one-job
plan <= 300 ms; validate of a 1,000-job plan <= 0.5 s; and how it grows to 10,000 jobs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "startup"


def generate_plan(path: Path, jobs: int) -> None:
    lines = [
        "version: 1",
        "settings:",
        "  timezone: UTC",
        "defaults:",
        "  engine: rsync",
        "  timeout: 4h",
        "jobs:",
    ]
    for index in range(jobs):
        lines += [
            f"  job-{index:05d}:",
            f"    source: /srv/data/{index}",
            f"    destination: /mnt/backup/{index}",
            f'    schedule: "{index % 60} {index % 24} * * *"',
            "    bandwidth: 5MiB",
            '    exclude: ["*.tmp", ".cache/"]',
        ]
    path.write_text("\n".join(lines) + "\n")


def median_ms(argv: list[str], runs: int) -> tuple[float, float, float]:
    subprocess.run(argv, capture_output=True, check=False)  # warm the page cache once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
        if result.returncode != 0:
            raise SystemExit(f"{argv} failed: {result.stderr.decode()[:500]}")
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    venv_bin = Path(sys.executable).parent
    script = str(venv_bin / "backupplan")
    DATA.mkdir(parents=True, exist_ok=True)
    plans = {}
    for jobs in (1, 1000, 10000):
        plans[jobs] = DATA / f"plan-{jobs}.yaml"
        generate_plan(plans[jobs], jobs)

    rows = [
        ("anchor: python -c pass (venv)", [sys.executable, "-c", "pass"], None, args.runs),
        ("backupplan --version", [script, "--version"], 120, args.runs),
        ("backupplan --help", [script, "--help"], 120, args.runs),
        ("validate, 1 job", [script, "validate", str(plans[1])], 300, args.runs),
        ("validate, 1,000 jobs", [script, "validate", str(plans[1000])], 500, max(5, args.runs // 3)),
        ("validate, 10,000 jobs", [script, "validate", str(plans[10000])], None, 3),
    ]
    anchor = None
    print(f"{'what':32} {'median ms':>10} {'min':>8} {'max':>8} {'x anchor':>9} {'target':>8}")
    for label, argv, target, runs in rows:
        median, low, high = median_ms(argv, runs)
        anchor = anchor or median
        verdict = "" if target is None else ("ok" if median <= target else "MISSED")
        print(
            f"{label:32} {median:10.1f} {low:8.1f} {high:8.1f} {median / anchor:9.1f} "
            f"{(str(target) + ' ' + verdict) if target else '':>8}"
        )


if __name__ == "__main__":
    main()
