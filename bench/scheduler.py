"""The scheduler's costs: `plan` of a 1,000-job plan, the daemon idling with 1,000 scheduled jobs,
and scheduling latency (slot time to rsync started), each against an anchor measured in this run.

Run: .venv/bin/python bench/scheduler.py [--runs N] [--idle SECONDS] [--slots N]

Targets (issue 5): `plan` of a 1,000-job plan <= 0.5 s (anchor: `validate` of the same plan);
the daemon with 1,000 scheduled jobs idles at <= 80 MB RSS and about 0 % CPU (anchor: the peak RSS
of `validate` of the same plan); scheduling latency <= 1 s median (anchor: a no-change `rsync` of
the same folders, started and finished by Python: the floor of starting rsync at all).
The checkout this script lives in is what runs (PYTHONPATH), not an installed backupplan.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "bench" / "data" / "scheduler"
sys.path.insert(0, str(REPO))

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
BACKUPPLAN = [sys.executable, "-m", "backupplan"]


def plan_text(jobs: int, hour: int, *, interval: str | None = None) -> str:
    """`jobs` local rsync jobs, daily at hours away from `hour` (none fires while we measure)."""
    lines = ["version: 1", "settings:", "  timezone: UTC", "  state_dir: state", "  site_dir: site", "jobs:"]
    for index in range(jobs):
        at = (hour + 3 + index % 18) % 24
        schedule = interval or f"{index % 60} {at} * * *"
        lines += [
            f"  job-{index:04d}:",
            "    engine: rsync",
            f"    source: data/{index % 10}",
            f"    destination: backup/{index}",
            f'    schedule: "{schedule}"',
        ]
    return "\n".join(lines) + "\n"


def prepare(folder: Path, jobs: int, *, interval: str | None = None, history: bool = True) -> Path:
    """A plan in `folder`, applied, every job having run a moment ago (nothing is due)."""
    from backupplan.journal import Journal
    from backupplan.plan.load import load_plan
    from backupplan.scheduler.applied import write_applied

    if folder.exists():
        shutil.rmtree(folder)
    for index in range(10):
        (folder / "data" / str(index)).mkdir(parents=True)
        (folder / "data" / str(index) / "file.txt").write_text("x" * 1000)
    (folder / "backup").mkdir()
    plan = folder / "backups.yaml"
    plan.write_text(plan_text(jobs, datetime.now(UTC).hour, interval=interval))
    loaded = load_plan(str(plan))
    now = datetime.now(UTC)
    with Journal.open(loaded.state_dir, clock=lambda: now - timedelta(minutes=1)) as journal:
        journal.append("plan.applied", data={"digest": loaded.digest, "jobs": list(loaded.jobs)})
        if history:
            for job in loaded.jobs:
                journal.append("run.started", job=job, run=f"r-{job}", data={"trigger": "schedule"})
                journal.append("run.finished", job=job, run=f"r-{job}", data={"status": "succeeded"})
    write_applied(loaded, now)
    return plan


def timed(argv: list[str], runs: int) -> tuple[float, float, float]:
    subprocess.run(argv, env=ENV, capture_output=True, check=False)  # warm the page cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(argv, env=ENV, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        if result.returncode not in (0, 2):
            raise SystemExit(f"{argv} failed: {result.stderr.decode()[:500]}")
    return statistics.median(times), min(times), max(times)


def peak_rss_mb(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(argv, env=ENV, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after) / 1024


def bench_plan(runs: int) -> None:
    plan = prepare(DATA / "plan", 1000)
    validate = timed([*BACKUPPLAN, "validate", str(plan)], runs)
    planned = timed([*BACKUPPLAN, "plan", "-p", str(plan)], runs)
    print("plan of a 1,000-job plan (target <= 0.5 s)")
    print(f"  anchor: validate  median {validate[0]:.3f} s  (min {validate[1]:.3f}, max {validate[2]:.3f})")
    print(f"  plan              median {planned[0]:.3f} s  (min {planned[1]:.3f}, max {planned[2]:.3f})")
    verdict = "ok" if planned[0] <= 0.5 else "MISSED"
    print(f"  ratio plan/validate {planned[0] / validate[0]:.2f}x; target {verdict}")


def status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def start_daemon(plan: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [*BACKUPPLAN, "daemon", "-p", str(plan)], env=ENV, stdout=output, stderr=subprocess.STDOUT
        )


def wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.2)


def bench_idle(idle: float) -> None:
    plan = prepare(DATA / "idle", 1000)
    anchor = peak_rss_mb([*BACKUPPLAN, "validate", str(plan)])
    log = DATA / "idle" / "daemon.log"
    daemon = start_daemon(plan, log)
    try:
        wait_for(lambda: b"No changes" in log.read_bytes() or b"Nothing is due" in log.read_bytes(), 60)
        time.sleep(3)  # let start-up settle
        rss = status_field(daemon.pid, "VmRSS") / 1024
        ticks, started = cpu_ticks(daemon.pid), time.monotonic()
        time.sleep(idle)
        used = (cpu_ticks(daemon.pid) - ticks) / os.sysconf("SC_CLK_TCK")
        elapsed = time.monotonic() - started
        rss_after = status_field(daemon.pid, "VmRSS") / 1024
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    print(f"daemon with 1,000 scheduled jobs, idle {elapsed:.0f} s (target <= 80 MB, about 0 % CPU)")
    print(f"  anchor: validate of the same plan, peak RSS {anchor:.1f} MB")
    print(
        f"  daemon RSS after start {rss:.1f} MB, after idling {rss_after:.1f} MB ({rss / anchor:.2f}x anchor)"
    )
    print(f"  CPU {used:.2f} s in {elapsed:.0f} s = {100 * used / elapsed:.2f} %")
    print(f"  target {'ok' if rss <= 80 and used / elapsed < 0.01 else 'MISSED'}")


def bench_latency(slots: int) -> None:
    folder = DATA / "latency"
    plan = prepare(folder, 1, interval="every 2s", history=False)
    rsync = [
        "rsync", "--archive", str(folder / "data" / "0") + "/", str(folder / "backup" / "floor"),
    ]  # fmt: skip
    floors = []
    for _ in range(slots):
        started = time.perf_counter()
        subprocess.run(rsync, check=True)
        floors.append(time.perf_counter() - started)
    anchor = statistics.median(floors)
    daemon = start_daemon(plan, folder / "daemon.log")
    journal = folder / "state" / "journal.jsonl"

    def records() -> list[dict[str, object]]:
        return [json.loads(line) for line in journal.read_text().splitlines() if line.endswith("}")]

    try:
        wait_for(lambda: sum(r["type"] == "run.child" for r in records()) > slots, 30 + 3 * slots)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    slot_of = {r["run"]: r["data"].get("slot") for r in records() if r["type"] == "run.started"}  # type: ignore[union-attr]
    delays = []
    for record in records():
        slot = slot_of.get(record["run"])  # type: ignore[arg-type]
        if record["type"] == "run.child" and slot:
            child = datetime.fromisoformat(str(record["ts"]))
            delays.append((child - datetime.fromisoformat(str(slot))).total_seconds())
    delays.sort()
    median = statistics.median(delays)
    print(
        f"scheduling latency, slot -> rsync started, {len(delays)} slots of an every-2s job (target <= 1 s)"
    )
    print(f"  anchor: a no-change rsync of the same folder, median {anchor * 1000:.1f} ms")
    p90 = delays[int(len(delays) * 0.9)]
    print(f"  latency median {median * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, max {delays[-1] * 1000:.1f} ms")
    print(f"  ratio latency/anchor {median / anchor:.1f}x; target <= 1 s {'ok' if median <= 1 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="timed runs of plan and validate")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds the daemon idles")
    parser.add_argument("--slots", type=int, default=20, help="slots for the latency")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    bench_plan(args.runs)
    bench_idle(args.idle)
    bench_latency(args.slots)


if __name__ == "__main__":
    main()
