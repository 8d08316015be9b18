"""`backupplan logs` and `backupplan doctor` benchmark: the cost of reading logs and of a check-up.

    /work/main/.venv/bin/python bench/logs.py [--jobs 200] [--runs 50] [--lines 400] [--repeat 5]

A state dir of JOBS jobs x RUNS runs x LINES log lines each (4,000,000 lines, ~330 MB with the
defaults) is generated in bench/data/logs/ (git-ignored) and deleted afterwards. Each figure is the
median of --repeat runs of a real `backupplan` process, against an anchor measured in the same run
that gets the same answer with standard tools:

- `logs` (the last 500 lines across all jobs) against `tail -q -n 500` of every job's newest log
  piped into `sort -s -k4,4 | tail -n 500` (what one would type; it reads each newest file's end);
- `logs --grep RARE` (a line that occurs 200 times in 4 M lines, so everything is read) against
  `grep -rhi RARE logs/ | sort | tail -n 500`; the same with a regular expression that needs the
  same reading (`mismatch on (inode|block)`, against `grep -rhiE`), and with a COMMON text (in a
  quarter of the lines: the last 500 are found at the end of each job's newest log, where `grep`
  still reads everything);
- `logs --since 1h -n 0` (every line of the last hour: each job's newest run) against `awk` on
  the newest files piped into `sort`;
- `doctor` on a plan of JOBS local jobs against `backupplan validate` of the same plan (the same
  start-up and plan load: the ratio is what the checks themselves cost).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "logs"
RARE = "checksum mismatch on inode"
RARE_REGEX = "mismatch on (inode|block)"
COMMON = "img_"
WORDS = (
    "photos/2024/IMG_{n:05d}.jpg",
    "documents/taxes/{n}.pdf",
    "mail/cur/{n}.eml:2,S",
    "sent {n:,} bytes  received 1,234 bytes  899,302.00 bytes/sec",
)


def generate(jobs: int, runs: int, lines: int) -> tuple[Path, Path]:
    """Write the plan, its source folders and STATE_DIR/logs; return (plan, state dir)."""
    shutil.rmtree(DATA, ignore_errors=True)
    state = DATA / ".backupplan"
    logs = state / "logs"
    now = datetime.now(UTC).replace(microsecond=0)
    rare_every = max(1, jobs * runs * lines // 200)
    count = 0
    plan_jobs = []
    for job in range(jobs):
        name = f"job{job:04d}"
        (DATA / "src" / name).mkdir(parents=True)
        (DATA / "src" / name / "a").write_text("a")
        plan_jobs.append(f"  {name}: {{engine: rsync, source: src/{name}, destination: out/{name}}}\n")
        folder = logs / name
        folder.mkdir(parents=True)
        for run in range(runs):
            # daily runs; the newest one of each job started 40 min (+5 s per job) ago
            start = now - timedelta(hours=(runs - 1 - run) * 24, minutes=40, seconds=job * 5)
            run_id = start.strftime("%Y%m%dT%H%M%SZ") + f"-{job:04x}"
            body = []
            for line in range(lines):
                count += 1
                stamp = (start + timedelta(seconds=line * 2)).strftime("%Y-%m-%dT%H:%M:%SZ")
                text = RARE if count % rare_every == 0 else WORDS[line % len(WORDS)].format(n=count)
                body.append(f"{stamp} [rsync] {text}\n")
            log = folder / f"{run_id}.log"
            log.write_text("".join(body))
            last = (start + timedelta(seconds=(lines - 1) * 2)).timestamp()
            os.utime(log, (last, last))  # as the runner leaves it: last written at its last line
    (DATA / "out").mkdir()
    plan = DATA / "backups.yaml"
    plan.write_text("version: 1\nsettings: {timezone: UTC}\njobs:\n" + "".join(plan_jobs))
    return plan, state


def timed(argv: list[str] | str, repeat: int, *, shell: bool = False) -> tuple[float, bytes]:
    """Median wall time of `repeat` runs, and the output of the last one."""
    times = []
    output = b""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeat):
        started = time.perf_counter()
        output = subprocess.run(argv, shell=shell, capture_output=True, env=env, cwd=DATA).stdout  # noqa: PLW1510
        times.append(time.perf_counter() - started)
    return statistics.median(times), output


def backupplan(*args: str) -> list[str]:
    return [sys.executable, "-m", "backupplan", *args, "--plan", str(DATA / "backups.yaml")]


def newest(state: Path) -> str:
    return " ".join(sorted(str(sorted(folder.iterdir())[-1]) for folder in (state / "logs").iterdir()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    from runner import compile_package  # bench/runner.py, beside this script

    compile_package()  # the bytecode written first, as installing does (bench/runner.py)
    started = time.perf_counter()
    _, state = generate(options.jobs, options.runs, options.lines)
    total = options.jobs * options.runs * options.lines
    size = sum(path.stat().st_size for path in (state / "logs").rglob("*.log"))
    print(f"generated {total:,} lines in {options.jobs * options.runs:,} logs, {size / 1e6:.0f} MB, "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = newest(state)
    cases = [
        ("logs (last 500)", backupplan("logs"),
         f"tail -q -n 500 {files} | sort -s -k1,1 | tail -n 500"),
        (f"logs --grep '{RARE}'", backupplan("logs", "--grep", RARE),
         f"grep -rhi '{RARE}' .backupplan/logs | sort -s -k1,1 | tail -n 500"),
        (f"logs --grep '{RARE_REGEX}'", backupplan("logs", "--grep", RARE_REGEX),
         f"grep -rhiE '{RARE_REGEX}' .backupplan/logs | sort -s -k1,1 | tail -n 500"),
        (f"logs --grep '{COMMON}' (a quarter of lines)", backupplan("logs", "--grep", COMMON),
         f"grep -rhi '{COMMON}' .backupplan/logs | sort -s -k1,1 | tail -n 500"),
        ("logs --since 1h -n 0 (every newest run)", backupplan("logs", "--since", "1h", "-n", "0"),
         f"awk '$1 >= \"{since}\"' {files} | sort -s -k1,1"),
    ]  # fmt: skip
    print(f"\n{'figure':<44} {'backupplan':>11} {'anchor':>9} {'ratio':>7}  lines (backupplan / anchor)")
    try:
        for label, ours, anchor in cases:
            our_time, our_output = timed(ours, options.repeat)
            anchor_time, anchor_output = timed(anchor, options.repeat, shell=True)
            ours_lines = len(our_output.splitlines())
            anchor_lines = len(anchor_output.splitlines())
            print(f"{label:<44} {our_time:>10.3f}s {anchor_time:>8.3f}s {our_time / anchor_time:>6.1f}x  "
                  f"{ours_lines} / {anchor_lines}")  # fmt: skip
        doctor_time, report = timed(backupplan("doctor"), options.repeat)
        validate_time, _ = timed(backupplan("validate"), options.repeat)
        print(f"{f'doctor ({options.jobs} local jobs) vs validate':<44} {doctor_time:>10.3f}s "
              f"{validate_time:>8.3f}s {doctor_time / validate_time:>6.1f}x  "
              f"{len(report.splitlines())} lines of report")  # fmt: skip
    finally:
        shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
