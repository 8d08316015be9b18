"""Live updates benchmark: what a page's poll costs on the wire, and what a progress tick costs the
runner.

    /work/main/.venv/bin/python bench/live.py [--jobs 1000] [--ticks 50]

Plans of JOBS and of 10 scheduled jobs, 5 runs each, the first job of each running with a progress
file, are generated in bench/data/live/ (git-ignored); their sites are written by SiteFeed, as the
runner and the daemon write them, and served by nginx (gzip on, as docs/site.md configures it;
installed with apt-get when missing). A poll is sent as a browser sends it (conditional, with the
validators of the answer before, accepting gzip) over a raw socket, so every byte nginx answers is
counted, headers included. Rows, each against its anchor in the same run:

- a dashboard poll of a JOBS-job site while nothing changes: live.json (answered 304) against
  status.json fetched whole, as the pages polled before (`?t=` and `no-store`), from a server that
  does not compress (python -m http.server) and gzipped;
- a poll of a 10-job site while one run moves (progress written every second): live.json against
  status.json, the same two ways;
- a progress tick in the runner, JOBS jobs (status.json and live.json written): SiteFeed.progress,
  which brings the document written last up to date, against building the status document anew
  and writing it, as every tick did before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import heartbeat  # noqa: E402  (bench/heartbeat.py: the same plans and history)
import orjson  # noqa: E402
from runner import installed  # noqa: E402  (bench/runner.py)

from backupplan.journal import JobLock, Journal  # noqa: E402
from backupplan.plan.load import LoadedPlan, load_plan  # noqa: E402
from backupplan.site import write_progress  # noqa: E402
from backupplan.status.document import Keeper  # noqa: E402
from backupplan.status.sitefeed import SiteFeed, status_document  # noqa: E402
from tests.servers import free_port, wait_port  # noqa: E402

DATA = ROOT / "bench" / "data" / "live"
KEEPER = Keeper("daemon", 60.0)


def write_history(loaded: LoadedPlan) -> str:
    """Five succeeded runs per job (bench/heartbeat.py's history), then a run of the first job
    started and not ended, with its progress file; return that run's id."""
    jobs = list(loaded.jobs)
    heartbeat.write_history(loaded.state_dir, jobs, 5, datetime.now(UTC))
    running = "20261206T020000Z-live"
    with Journal.open(loaded.state_dir) as journal:
        journal.append(
            "run.started", job=jobs[0], run=running, data={"trigger": "schedule", "pid": os.getpid()}
        )
    move(loaded, jobs[0], running, 0)
    return running


def move(loaded: LoadedPlan, job: str, run: str, step: int) -> None:
    """Write the running run's progress file as the runner does, `step` seconds into the run."""
    folder = loaded.state_dir / "progress"
    folder.mkdir(mode=0o700, exist_ok=True)
    progress = {
        "run": run, "attempt": 1, "percent": min(99.0, step * 0.5), "bytes": step * 5_242_880,
        "total_bytes": 1_073_741_824, "rate": 5_242_880.0, "eta": max(1.0, 200.0 - step), "files": step,
        "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip
    (folder / f"{job}.json").write_bytes(orjson.dumps(progress))


def get(
    port: int, path: str, validators: dict[str, str], *, gzip: bool = True
) -> tuple[int, int, dict[str, str]]:
    """GET `path` as a browser polls it; return (HTTP status, bytes answered, its validators).
    Without `gzip`, as from a server that does not compress (python -m http.server)."""
    headers = "".join(f"{name}: {value}\r\n" for name, value in validators.items())
    if gzip:
        headers += "Accept-Encoding: gzip\r\n"
    request = f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    found = {}
    if "Last-Modified" in fields:
        found["If-Modified-Since"] = fields["Last-Modified"]
    if "ETag" in fields:
        found["If-None-Match"] = fields["ETag"]
    return int(head[0].split()[1]), len(answer), found


def serve(nginx: str, roots: dict[str, Path]) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """nginx serving each folder of `roots` on a port of its own."""
    ports = {name: free_port() for name in roots}
    servers = "".join(
        f"  server {{ listen 127.0.0.1:{ports[name]}; root {root}; }}\n" for name, root in roots.items()
    )
    temporaries = "".join(
        f"  {kind}_temp_path {DATA}/nginx-tmp;\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = DATA / "nginx.conf"
    conf.write_text(
        f"daemon off; worker_processes 1; pid {DATA}/nginx.pid; error_log {DATA}/nginx-error.log;\n"
        "events { worker_connections 64; }\n"
        "http { include /etc/nginx/mime.types; access_log off; gzip on; gzip_types application/json;\n"
        f"{temporaries}{servers}}}\n"
    )  # fmt: skip
    (DATA / "nginx-tmp").mkdir(exist_ok=True)
    process = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(DATA)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for port in ports.values():
        wait_port(port, process)
    return process, ports


def milliseconds(action: Callable[[], object], times: int) -> float:
    found = []
    for _ in range(times):
        start = time.perf_counter()
        action()
        found.append((time.perf_counter() - start) * 1000)
    return statistics.median(found)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=50)
    options = parser.parse_args()
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    nginx = installed("nginx", "nginx-light")
    plans = {
        "big": load_plan(heartbeat.write_plan(DATA / "big", options.jobs, "0 2 * * *")),
        "small": load_plan(heartbeat.write_plan(DATA / "small", 10, "0 2 * * *")),
    }
    runs = {name: write_history(loaded) for name, loaded in plans.items()}
    locks = [JobLock(loaded.state_dir, "job-0000") for loaded in plans.values()]  # the runs' runner is alive
    for lock in locks:
        lock.acquire()
    journals = {name: Journal.open(loaded.state_dir) for name, loaded in plans.items()}
    feeds = {name: SiteFeed(loaded, journals[name], keeper=KEEPER) for name, loaded in plans.items()}
    for feed in feeds.values():
        feed.event()  # the run's start: the site built whole
    process, ports = serve(nginx, {name: loaded.site_dir for name, loaded in plans.items()})
    try:
        print(f"\n{'figure':<58} {'backupplan':>12} {'anchor':>12} {'ratio':>7}")

        def row(label: str, ours: float, anchor: float, unit: str) -> None:
            print(f"{label:<58} {ours:>9,.0f} {unit:<2} {anchor:>9,.0f} {unit:<2} {ours / anchor:>6.3f}x")

        # A dashboard of JOBS jobs polled while nothing changes.
        port = ports["big"]
        _, _, validators = get(port, "live.json", {})
        quiet = [get(port, "live.json", validators) for _ in range(5)]
        assert {status for status, _, _ in quiet} == {304}, quiet
        label = f"dashboard poll, {options.jobs} jobs, nothing changes (live.json 304)"
        row(label, quiet[0][1], get(port, "status.json", {}, gzip=False)[1], "B")
        row("  the same, against status.json gzipped", quiet[0][1], get(port, "status.json", {})[1], "B")

        # A 10-job site while one run moves: each poll finds new progress.
        small, port = plans["small"], ports["small"]
        _, _, validators = get(port, "live.json", {})
        answers = []
        for step in range(1, 6):
            move(small, "job-0000", runs["small"], step)
            feeds["small"].progress()
            feeds["small"]._updater.flush()  # the debounce aside: the tick is written now
            status, size, validators = get(port, "live.json", validators)
            assert status == 200, status
            answers.append(size)
        label = "poll while 1 of 10 jobs runs (live.json 200)"
        row(label, statistics.median(answers), get(port, "status.json", {}, gzip=False)[1], "B")
        row(
            "  the same, against status.json gzipped",
            statistics.median(answers),
            get(port, "status.json", {})[1],
            "B",
        )

        # The runner's progress tick, JOBS jobs.
        big, journal, feed = plans["big"], journals["big"], feeds["big"]
        steps = iter(range(10, 10_000))

        def tick() -> None:
            move(big, "job-0000", runs["big"], next(steps))
            feed.progress()
            feed._updater.flush()  # the debounce aside: every tick is written

        def rebuilt() -> None:
            move(big, "job-0000", runs["big"], next(steps))
            write_progress(status_document(big, journal, datetime.now(UTC), KEEPER), big.site_dir)

        ours, before = milliseconds(tick, options.ticks), milliseconds(rebuilt, options.ticks)
        print(f"{f'progress tick, {options.jobs} jobs (ms; anchor: the document built anew)':<58} "
              f"{ours:>9.1f} ms {before:>9.1f} ms {ours / before:>6.3f}x")  # fmt: skip
        size = (big.site_dir / "status.json").stat().st_size
        print(f"\nstatus.json of {options.jobs} jobs: {size / 1024:,.0f} KiB raw; live.json "
              f"{(big.site_dir / 'live.json').stat().st_size} B")  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)
        for journal in journals.values():
            journal.close()
        for lock in locks:
            lock.release()
        shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
