"""What keeping watch costs: the daemon's status.json heartbeat, and an idle daemon's CPU.

    .venv/bin/python bench/heartbeat.py [--jobs 1000] [--beats 50] [--idle 30]

Figures printed:
- one heartbeat (SiteFeed.heartbeat: the status document from the journal, then status.json
  written) for a plan of --jobs jobs, in CPU milliseconds (median of --beats), against the anchor
  measured in the same run: serialising and writing the same document alone (orjson + atomic
  write), the floor any heartbeat pays;
- a real `backupplan daemon` with 10 jobs that are all on time, left idle for --idle seconds with
  its heartbeat and overdue check running: its CPU use in percent of one core (from /proc).

Target (issue "never silently stale"): a heartbeat for 1,000 jobs <= 5 ms of CPU; an idle daemon
about 0 %.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from backupplan.fsutil import atomic_write  # noqa: E402
from backupplan.journal import Journal  # noqa: E402
from backupplan.plan.load import load_plan  # noqa: E402
from backupplan.status.document import Keeper  # noqa: E402
from backupplan.status.sitefeed import SiteFeed, status_document  # noqa: E402

DATA = ROOT / "bench" / "data" / "heartbeat"


def write_plan(folder: Path, jobs: int, schedule: str) -> Path:
    lines = ["version: 1", "settings:", "  timezone: UTC", "defaults:", "  engine: rsync", "jobs:"]
    for index in range(jobs):
        lines += [
            f"  job-{index:04d}:",
            f"    source: {folder}/src",
            f"    destination: {folder}/dst/{index}",
            f'    schedule: "{schedule}"',
        ]
    (folder / "src").mkdir(parents=True, exist_ok=True)
    plan = folder / "backups.yaml"
    plan.write_text("\n".join(lines) + "\n")
    return plan


def write_history(state_dir: Path, jobs: list[str], runs: int, last: datetime) -> None:
    """Each job: `runs` succeeded runs, six hours apart, the newest at `last`; the plan applied."""
    with Journal.open(state_dir) as journal:
        journal.append("plan.applied", data={"digest": "sha256:bench", "jobs": jobs})
        for number in range(runs, 0, -1):
            for job in jobs:
                run = f"run-{number}-{job}"
                journal.append("run.started", job=job, run=run, data={"trigger": "schedule"})
                journal.append("run.finished", job=job, run=run, data={
                    "status": "succeeded", "exit_code": 0, "bytes": 1000, "files": 3, "duration": 4.0,
                })  # fmt: skip
        journal.compact()
    del last


def cpu_ms(action: object, times: int) -> list[float]:
    assert callable(action)
    found = []
    for _ in range(times):
        start = time.process_time()
        action()
        found.append((time.process_time() - start) * 1000)
    return found


def bench_heartbeat(jobs: int, beats: int) -> None:
    folder = DATA / f"jobs-{jobs}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plan = write_plan(folder, jobs, "0 2 * * *")
    loaded = load_plan(plan)
    write_history(loaded.state_dir, list(loaded.jobs), 5, datetime.now(UTC))
    with Journal.open(loaded.state_dir) as journal:
        feed = SiteFeed(loaded, journal, keeper=Keeper("daemon", 60.0))
        feed.heartbeat()  # warm: imports, the tool check is not asked for a heartbeat
        heartbeat = statistics.median(cpu_ms(feed.heartbeat, beats))
        document = status_document(loaded, journal, datetime.now(UTC), Keeper("daemon", 60.0))
        target = folder / "anchor.json"

        def write_alone() -> None:
            atomic_write(target, orjson.dumps(document), mode=0o644, durable=False)

        anchor = statistics.median(cpu_ms(write_alone, beats))
        size = (loaded.site_dir / "status.json").stat().st_size
    print(f"heartbeat, {jobs} jobs: {heartbeat:.2f} ms CPU (status.json {size / 1024:.0f} KiB)")
    print(f"  anchor, the same document serialised and written alone: {anchor:.2f} ms CPU")
    print(f"  ratio {heartbeat / anchor:.1f}x; target <= 5 ms")


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_idle(seconds: float) -> None:
    folder = DATA / "idle"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plan = write_plan(folder, 10, "every 24h")
    loaded = load_plan(plan)
    write_history(loaded.state_dir, list(loaded.jobs), 1, datetime.now(UTC) - timedelta(hours=1))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "backupplan", "daemon", "--plan", str(plan)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        time.sleep(5)  # start-up: apply, the first site build
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited: {daemon.stderr.read().decode() if daemon.stderr else ''}")
        before = process_cpu_seconds(daemon.pid)
        time.sleep(seconds)
        used = process_cpu_seconds(daemon.pid) - before
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    share = used / seconds * 100
    print(f"idle daemon, 10 jobs, {seconds:.0f} s: {used * 1000:.0f} ms CPU = {share:.2f} % of one core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--beats", type=int, default=50)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    bench_heartbeat(10, args.beats)
    bench_heartbeat(args.jobs, args.beats)
    bench_idle(args.idle)


if __name__ == "__main__":
    main()
