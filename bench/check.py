"""How fast `backupplan check` answers a monitor, cold (a new process each time, as NRPE or Icinga
start it), against a bare interpreter measured in the same run.

Run: .venv/bin/python bench/check.py [--runs N]

Rows: the anchor (`python -c pass`); `check` of a 10-job and of a 1,000-job plan (plan loaded and
validated, journal replayed read-only, the status document built, judged); `check --status` of the
1,000-job plan's status.json (no plan, no journal: what a central monitor runs per host).

Target (issue: monitoring plugin): `check` of a 10-job plan <= 150 ms if possible; `--status` must
not load the plan's models (pydantic, ruamel), which tests/monitor checks.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data" / "check"
sys.path.insert(0, str(ROOT))

from startup import generate_plan  # noqa: E402  (bench/startup.py: the same plans validate uses)

from backupplan.journal import Journal  # noqa: E402
from backupplan.journal.records import format_timestamp  # noqa: E402
from backupplan.plan.load import load_plan  # noqa: E402

UNKNOWN = 3  # a check that could not judge: the bench is broken, not slow


def write_history(plan: Path, runs: int) -> None:
    """Apply the plan a week ago, then give each job `runs` succeeded runs, the newest an hour ago."""
    loaded = load_plan(plan)
    jobs = list(loaded.jobs)
    now = datetime.now(UTC)
    clock = {"now": now - timedelta(days=7)}
    with Journal.open(loaded.state_dir, clock=lambda: clock["now"]) as journal:
        journal.append("plan.applied", data={"digest": loaded.digest, "path": str(plan), "jobs": jobs})
        for number in range(runs, 0, -1):
            clock["now"] = now - timedelta(hours=1 + 24 * (number - 1))
            for job in jobs:
                run = f"{format_timestamp(clock['now'])[:10]}-{job}"
                journal.append(
                    "run.started", job=job, run=run, data={"trigger": "schedule", "engine": "rsync"}
                )
                journal.append("run.finished", job=job, run=run, data={
                    "status": "succeeded", "exit_code": 0, "bytes": 1000, "files": 3, "duration": 4.0,
                    "attempts": 1,
                })  # fmt: skip
        journal.compact()


def child_env() -> dict[str, str]:
    """The children's environment: bytecode caches allowed, as in an installed package (with
    PYTHONDONTWRITEBYTECODE set, every run would compile every module it imports anew)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def median_ms(argv: list[str], runs: int) -> tuple[float, float, float, int]:
    """Median, min and max wall milliseconds of `runs` cold runs (after one warm-up that fills the
    page and bytecode caches), and the exit code."""
    env = child_env()
    subprocess.run(argv, capture_output=True, check=False, env=env)
    times, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, check=False, env=env)
        times.append((time.perf_counter() - start) * 1000)
        code = result.returncode
        if code >= UNKNOWN:
            raise SystemExit(
                f"{argv} exited {code}: {result.stdout.decode()[:300]}{result.stderr.decode()[:300]}"
            )
    return statistics.median(times), min(times), max(times), code


def prepare(jobs: int) -> Path:
    folder = DATA / f"jobs-{jobs}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plan = folder / "backups.yaml"
    generate_plan(plan, jobs)
    write_history(plan, runs=3)
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from runner import compile_package  # bench/runner.py, beside this script

    compile_package()  # the bytecode written first, as installing does (bench/runner.py)
    script = str(Path(sys.executable).parent / "backupplan")
    plans = {jobs: prepare(jobs) for jobs in (10, 1000)}
    published = DATA / "status-1000.json"
    status = subprocess.run(
        [script, "status", "--json", "-p", str(plans[1000])], capture_output=True, check=True, env=child_env()
    )
    published.write_bytes(status.stdout)

    rows = [
        ("anchor: python -c pass (venv)", [sys.executable, "-c", "pass"], None, args.runs),
        ("check, 10-job plan", [script, "check", "-p", str(plans[10])], 150, args.runs),
        ("check, 1,000-job plan", [script, "check", "-p", str(plans[1000])], None, max(5, args.runs // 3)),
        ("check --status, 1,000 jobs", [script, "check", "--status", str(published)], None, args.runs),
    ]
    print(f"status.json of 1,000 jobs: {published.stat().st_size / 1024:.0f} KiB")
    print(f"{'what':30} {'median ms':>10} {'min':>8} {'max':>8} {'x anchor':>9} {'exit':>5} {'target':>10}")
    anchor = None
    for label, argv, target, runs in rows:
        median, low, high, code = median_ms(argv, runs)
        anchor = anchor or median
        verdict = "" if target is None else f"{target} {'ok' if median <= target else 'MISSED'}"
        print(
            f"{label:30} {median:10.1f} {low:8.1f} {high:8.1f} {median / anchor:9.1f} {code:5d} {verdict:>10}"
        )


if __name__ == "__main__":
    main()
