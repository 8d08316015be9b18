"""What notifications cost a run, against an rsync no-change run measured in the same process.

Run: .venv/bin/python bench/notify.py [--calls N]

Figures:
- the caller's time in `Notifications.run_finished` (decide, render, queue a message and a ping)
  with a receiver that answers, one that is down and one that answers 500: the run's cost, which
  must not depend on the receiver;
- how long a message takes to arrive (queue to receiver) and `close()` of a short-lived process;
- the one-time import of apprise at the first delivery.
The anchor is `rsync -a` of a 2,000-file tree that has not changed (the cheapest real backup run).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from backupplan.notify.decide import NotifyState  # noqa: E402
from backupplan.notify.hub import Notifications  # noqa: E402
from backupplan.notify.outbox import Outbox  # noqa: E402
from backupplan.plan.model import Plan  # noqa: E402

DATA = HERE / "data" / "notify"


class Receiver:
    def __init__(self, status: int) -> None:
        self.arrived: list[float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived.append(time.perf_counter())
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        serve = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        serve.daemon = True
        serve.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def plan_for(port: int) -> Plan:
    return Plan.model_validate(
        {
            "version": 1,
            "settings": {"notify": [{"url": f"json://127.0.0.1:{port}/hook", "on": ["failure", "success"]}]},
            "jobs": {
                "photos": {
                    "engine": "rsync",
                    "source": "/data",
                    "destination": "/backup",
                    "ping": f"http://127.0.0.1:{port}/ping/0f1e2d3c",
                }
            },
        }
    )


def summary(number: int) -> dict[str, object]:
    return {
        "run": f"run-{number}",
        "job": "photos",
        "status": "failed" if number % 2 else "succeeded",
        "reason": "exit 23: some files could not be transferred" if number % 2 else None,
        "finished_at": f"2026-11-28T02:{number % 60:02d}:00Z",
        "duration": 41.2,
        "bytes": 1048576,
        "files": 12,
        "attempts": 1,
    }


def caller_times(port: int, calls: int, *, wait: float) -> list[float]:
    """Milliseconds the caller spends per run_finished; deliveries go on in the background."""
    notifications = Notifications(plan_for(port), host="bench", outbox=Outbox(retry_delays=(0.05, 0.1)))
    state = NotifyState()
    times = []
    for number in range(calls):
        start = time.perf_counter()
        report = notifications.run_finished(state, summary(number), log_tail="x" * 10_000)
        times.append((time.perf_counter() - start) * 1000)
        state = report.state
    notifications.close(wait)  # a receiver that fails gets no more of the bench's time than this
    return times


def delivery_latency(receiver: Receiver, rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds from queueing to arrival, and of close() for a process that sends one message."""
    arrivals, closes = [], []
    for number in range(rounds):
        notifications = Notifications(plan_for(receiver.port), host="bench")
        before = len(receiver.arrived)
        start = time.perf_counter()
        notifications.run_finished(NotifyState(), summary(2 * number + 1))
        closing = time.perf_counter()
        notifications.close(30)
        closes.append((time.perf_counter() - closing) * 1000)
        if len(receiver.arrived) > before:
            arrivals.append((receiver.arrived[before] - start) * 1000)
    return arrivals, closes


def import_cost(runs: int) -> tuple[float, float]:
    def median(argv: list[str]) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    bare = median([sys.executable, "-c", "pass"])
    loaded = median([sys.executable, "-c", "import apprise; apprise.Apprise.instantiate('json://h/x')"])
    return bare, loaded - bare


def rsync_anchor(runs: int) -> float:
    source, destination = DATA / "src", DATA / "dst"
    if not source.exists():
        source.mkdir(parents=True)
        for index in range(2000):  # 2,000 small text files in 20 folders, ~6 MiB
            folder = source / f"dir-{index % 20:02d}"
            folder.mkdir(exist_ok=True)
            (folder / f"file-{index:04d}.txt").write_text(f"line of file {index}\n" * (index % 400 + 1))
    shutil.rmtree(destination, ignore_errors=True)
    subprocess.run(["rsync", "-a", f"{source}/", f"{destination}/"], check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["rsync", "-a", f"{source}/", f"{destination}/"], check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # undelivered messages are expected here; do not print each

    anchor = rsync_anchor(9)
    bare, apprise_import = import_cost(7)
    live, failing = Receiver(200), Receiver(500)
    try:
        rows = [
            ("run_finished, receiver answers", caller_times(live.port, args.calls, wait=30)),
            ("run_finished, receiver down", caller_times(free_port(), args.calls, wait=1)),
            ("run_finished, receiver answers 500", caller_times(failing.port, args.calls, wait=1)),
        ]
        arrivals, closes = delivery_latency(live, 20)
    finally:
        live.stop()
        failing.stop()

    print(f"anchor: rsync -a, 2,000 files, no change: {anchor:.1f} ms (median of 9)")
    print(f"{'caller time per run end':40} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'x anchor':>9}")
    for label, times in rows:
        ordered = sorted(times)
        median = statistics.median(times)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        print(f"{label:40} {median:10.3f} {p95:8.3f} {max(times):8.3f} {median / anchor:9.4f}")
    print(f"{'message queued -> received (median)':40} {statistics.median(arrivals):10.1f}")
    print(f"{'close() of a short-lived process':40} {statistics.median(closes):10.1f}")
    print(f"{'first delivery: import apprise':40} {apprise_import:10.1f}  (bare interpreter {bare:.1f} ms)")


if __name__ == "__main__":
    main()
