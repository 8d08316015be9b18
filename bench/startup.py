"""Start-up and validation speed, against a bare interpreter and rsnapshot measured in the same run.

Run: .venv/bin/python bench/startup.py [--runs N]

Rows (medians of N cold processes, each a new interpreter):
- --help and --version (target <= 120 ms); validate of a 1,000-job plan (<= 0.5 s) and 10,000;
- the commands people wait for on a small plan (3 jobs, each run once, as the demo plan):
  `status` (target <= 100 ms), `validate`, `logs` and `check` (<= 150 ms), each with the plan cache
  (docs/performance.md; the plan read back, the usual case) and with `BACKUPPLAN_PLAN_CACHE=off`
  (parsed and validated every time, as before the cache); `status` right after a `run` (which
  keeps the status document it built: status/kept.py);
- anchors: `python -c pass` in the same venv, and `rsnapshot configtest` of a one-backup
  rsnapshot.conf (installed with apt-get when missing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from runner import compile_package, installed  # bench/runner.py, beside this script

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


class Row(NamedTuple):
    label: str
    argv: list[str]
    target: int | None
    runs: int
    env: dict[str, str] | None = None
    exits: tuple[int, ...] = (0,)  # `check` answers 1 or 2 while a job is late or failed
    before: list[str] | None = None  # run, untimed, before each timed run


def median_ms(row: Row) -> tuple[float, float, float]:
    subprocess.run(row.argv, capture_output=True, check=False, env=row.env)  # warm the page and plan cache
    times = []
    for _ in range(row.runs):
        if row.before:
            subprocess.run(row.before, capture_output=True, check=True, env=row.env)
        start = time.perf_counter()
        result = subprocess.run(row.argv, capture_output=True, check=False, env=row.env)
        times.append((time.perf_counter() - start) * 1000)
        if result.returncode not in row.exits:
            raise SystemExit(f"{row.argv} failed: {result.stderr.decode()[:500]}")
    return statistics.median(times), min(times), max(times)


SMALL = """\
version: 1
settings: {timezone: UTC}
jobs:
  documents:
    engine: rsync
    source: data/documents
    destination: backup/documents
    schedule: "@daily"
    snapshots: {keep: {last: 3, daily: 7}}
  photos:
    engine: rsync
    source: data/photos
    destination: backup/photos
    schedule: every 6h
    delete: true
  photos-cloud:
    engine: rclone
    source: data/photos
    destination: cloud/photos
    schedule: "0 3 * * *"
"""


def small_plan(folder: Path, script: str) -> Path:
    """A 3-job plan whose jobs each ran once (so status, logs and check have runs to show)."""
    shutil.rmtree(folder, ignore_errors=True)
    for name in ("documents", "photos"):
        (folder / "data" / name).mkdir(parents=True)
        for index in range(20):
            (folder / "data" / name / f"file-{index}.txt").write_text(f"{name} {index}\n" * 50)
    for name in ("backup", "cloud"):
        (folder / name).mkdir()
    plan = folder / "backups.yaml"
    plan.write_text(SMALL)
    subprocess.run([script, "apply", "-p", str(plan)], capture_output=True, check=True, env=_env())
    return plan


def rsnapshot_config(folder: Path) -> Path:
    installed("rsnapshot", "rsnapshot")
    config = folder / "rsnapshot.conf"
    fields = [
        ("config_version", "1.2"),
        ("snapshot_root", f"{folder}/rsnapshot/"),
        ("cmd_rsync", shutil.which("rsync") or "/usr/bin/rsync"),
        ("retain", "daily\t7"),
        ("backup", f"{folder}/data/documents/\tlocalhost/"),
    ]
    config.write_text("".join(f"{key}\t{value}\n" for key, value in fields))
    return config


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    compile_package()  # the bytecode written first, as installing does (bench/runner.py)
    venv_bin = Path(sys.executable).parent
    script = str(venv_bin / "backupplan")
    DATA.mkdir(parents=True, exist_ok=True)
    plans = {}
    for jobs in (1, 1000, 10000):
        plans[jobs] = DATA / f"plan-{jobs}.yaml"
        generate_plan(plans[jobs], jobs)

    small = small_plan(DATA / "small", script)
    config = rsnapshot_config(DATA / "small")
    off = _env(BACKUPPLAN_PLAN_CACHE="off")
    rows = [
        Row("anchor: python -c pass (venv)", [sys.executable, "-c", "pass"], None, args.runs),
        Row("anchor: rsnapshot configtest", ["rsnapshot", "-c", str(config), "configtest"], None, args.runs),
        Row("backupplan --version", [script, "--version"], 120, args.runs),
        Row("backupplan --help", [script, "--help"], 120, args.runs),
        Row("validate, 1 job", [script, "validate", str(plans[1])], 300, args.runs),
        Row("validate, 1,000 jobs", [script, "validate", str(plans[1000])], 500, max(5, args.runs // 3)),
        Row("validate, 10,000 jobs", [script, "validate", str(plans[10000])], None, 3),
    ]
    for command, target in (("status", 100), ("validate", 150), ("logs", 150), ("check", 150)):
        argv = [script, command, "-p", str(small)]
        exits = (0, 1, 2) if command == "check" else (0,)
        rows.append(Row(f"{command}, 3 jobs", argv, target, args.runs, None, exits))
        rows.append(Row(f"{command}, 3 jobs, cache off", argv, target, args.runs, off, exits))
    run_photos = [script, "run", "-p", str(small), "photos"]
    status_argv = [script, "status", "-p", str(small)]
    rows.append(Row("status right after a run", status_argv, 100, args.runs, None, (0,), run_photos))
    anchor = None
    print(f"{'what':32} {'median ms':>10} {'min':>8} {'max':>8} {'x anchor':>9} {'target':>8}")
    for row in rows:
        label, target = row.label, row.target
        median, low, high = median_ms(row)
        anchor = anchor or median
        verdict = "" if target is None else ("ok" if median <= target else "MISSED")
        print(
            f"{label:32} {median:10.1f} {low:8.1f} {high:8.1f} {median / anchor:9.1f} "
            f"{(str(target) + ' ' + verdict) if target else '':>8}"
        )


if __name__ == "__main__":
    main()
