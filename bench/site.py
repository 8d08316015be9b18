"""Benchmark of the status site: builds, updates, sizes, and a stock static server's throughput.

Synthetic state: 1,000 jobs x 100 runs each, and 1,000,000 log lines (the last 50 runs of each job
keep a 20-line log: the default log retention). Generated once into bench/data/site/ (git-ignored).

    /work/main/.venv/bin/python bench/site.py [--jobs N] [--runs N] [--quick]

Figures printed:
- cold build (empty site folder: every page written, every log published),
- full build (site up to date, every page rendered again: what a daemon does at start),
- rebuild after one run finished (changed_jobs=[one job]), and where its time goes: each part of
  the build timed on its own (rendering each kind of page, reading the recent log lines, the
  status files, writing), the rest shown as such,
- progress-only update (write_progress),
- sizes: status.json for 10 jobs, index.html for 1,000 jobs,
- what the strips of last runs and the job pages' 90-day calendars cost: a full build, and the
  10-job dashboard's size, with them and with both drawn as nothing (the site before them), in
  the same run, alternating,
- requests per second from `python -m http.server` (and nginx when installed) with wrk when
  installed, else a small threaded Python client,
and, as the anchor measured in the same run, the time to copy the same pages' bytes with plain
os.write (no rendering), so the ratio says how much of a build is the site's own work.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backupplan.plan.model import Settings  # noqa: E402
from backupplan.site import JobInput, SiteInput, SitePaths, ToolCheck, build_site, write_progress  # noqa: E402

DATA = ROOT / "bench" / "data" / "site"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LOGGED_RUNS = 50
LINES_PER_LOG = 20
STATUSES = ["succeeded"] * 16 + ["warning", "failed", "timed_out", "interrupted"]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_runs(job: str, runs: int, rng: random.Random) -> list[dict[str, object]]:
    history = []
    for index in range(runs):
        started = NOW - timedelta(hours=6 * (index + 1), minutes=rng.randint(0, 59))
        duration = rng.uniform(5, 900)
        status = rng.choice(STATUSES)
        run_id = f"{started.strftime('%Y%m%dT%H%M%SZ')}-{rng.getrandbits(16):04x}"
        history.append(
            {
                "run": run_id,
                "job": job,
                "status": status,
                "reason": None
                if status == "succeeded"
                else f"exit {rng.choice([23, 24, 10, 30])}: something",
                "trigger": "schedule",
                "started_at": stamp(started),
                "finished_at": stamp(started + timedelta(seconds=duration)),
                "duration": round(duration, 1),
                "exit_code": 0 if status == "succeeded" else 23,
                "bytes": rng.randint(0, 5 * 1024**3),
                "files": rng.randint(0, 100_000),
                "attempts": 1,
                "log": f"logs/{job}/{run_id}.log" if index < LOGGED_RUNS else None,
            }
        )
    return history


def job_status(job: str, history: list[dict[str, object]], config: dict[str, object]) -> dict[str, object]:
    last = history[0] if history else None
    return {
        "id": job,
        "description": config["description"],
        "engine": "rsync",
        "enabled": True,
        "status": last["status"] if last else "never_run",
        "overdue": False,
        "paused": False,
        "schedule": "0 */6 * * *",
        "next_run": stamp(NOW + timedelta(hours=3)),
        "last_run": last,
        "last_success": next((run["finished_at"] for run in history if run["status"] == "succeeded"), None),
        "runs": len(history),
        "failures": sum(run["status"] in ("failed", "timed_out") for run in history),
        "bytes": sum(int(run["bytes"]) for run in history),  # type: ignore[call-overload]
        "files": sum(int(run["files"]) for run in history),  # type: ignore[call-overload]
        "progress": None,
        "verify": None,
    }


def make_input(job_count: int, runs: int, state_dir: Path, site_dir: Path, write_logs: bool) -> SiteInput:
    rng = random.Random(42)
    settings = Settings().model_dump(mode="json")
    jobs: dict[str, JobInput] = {}
    statuses = []
    for number in range(job_count):
        job = f"job-{number:04d}"
        config = {
            "description": f"Synthetic job {number}",
            "engine": "rsync",
            "source": f"/srv/data/{job}/",
            "destination": f"/mnt/backup/{job}",
            "schedule": "0 */6 * * *",
            "exclude": ["*.tmp", ".cache/"],
            "enabled": True,
        }
        history = make_runs(job, runs, rng)
        jobs[job] = JobInput(
            job, config, [stamp(NOW + timedelta(hours=3 + 6 * k)) for k in range(3)], history
        )
        statuses.append(job_status(job, history, config))
        if write_logs:
            folder = state_dir / "logs" / job
            folder.mkdir(parents=True, exist_ok=True)
            for run in history[:LOGGED_RUNS]:
                started = str(run["started_at"])
                lines = [
                    f"{started} [rsync] >f+++++++++ photos/2026/IMG_{k:05d}.jpg" for k in range(LINES_PER_LOG)
                ]
                log = folder / f"{run['run']}.log"
                log.write_text("\n".join(lines) + "\n")
                finished = datetime.fromisoformat(str(run["finished_at"]).replace("Z", "+00:00")).timestamp()
                os.utime(log, (finished, finished))  # as the runner leaves it: last written at the end
    recent = sorted(
        (run for job in jobs.values() for run in job.history[:1]), key=lambda run: str(run["started_at"])
    )
    status = {
        "format": 1,
        "generated_at": stamp(NOW),
        "backupplan_version": "0.1.0",
        "plan": {
            "path": "/srv/backups.yaml",
            "digest": "sha256:" + "0" * 64,
            "applied_at": stamp(NOW),
            "applied_digest": "sha256:" + "0" * 64,
        },
        "journal": {"records": 100_000, "last_seq": 100_000, "healthy": True, "problems": []},
        "summary": {
            "jobs": job_count,
            "running": 0,
            "bytes_total": sum(int(s["bytes"]) for s in statuses),
            "failures_24h": 12,
            "overdue": 0,
        },  # type: ignore[call-overload]
        "jobs": statuses,
        "recent_runs": list(reversed(recent))[:10],
        "interruptions": [],
    }
    return SiteInput(
        now=NOW,
        status=status,
        paths=SitePaths(state_dir=str(state_dir), site_dir=str(site_dir), plan_path="/srv/backups.yaml"),
        jobs=jobs,
        settings=settings,
        default_settings=settings,
        tools=[ToolCheck("rsync", "/usr/bin/rsync", "3.5.0", True)],
    )


def series(times: list[float], scale: float) -> str:
    return ", ".join(f"{value * scale:.3g}" for value in times)


def timed(function, repeat: int = 1) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def finish_one_run(data: SiteInput, job: str, step: int) -> SiteInput:
    """The input after `job` finished one more run (a new history entry, updated status)."""
    history = data.jobs[job].history
    run = dict(
        history[0],
        run=f"{stamp(NOW + timedelta(minutes=step)).replace(':', '').replace('-', '')}-b{step:03d}",
    )
    run.update(
        started_at=stamp(NOW + timedelta(minutes=step)),
        finished_at=stamp(NOW + timedelta(minutes=step, seconds=30)),
        status="succeeded",
        log=None,
    )
    jobs = dict(data.jobs)
    jobs[job] = replace(data.jobs[job], history=[run, *history[:-1]])
    statuses = [
        dict(entry, last_run=run, status="succeeded") if entry["id"] == job else entry
        for entry in data.status["jobs"]
    ]
    status = dict(
        data.status,
        jobs=statuses,
        recent_runs=[run, *data.status["recent_runs"][:9]],
        generated_at=run["finished_at"],
    )
    return replace(data, jobs=jobs, status=status)


@contextlib.contextmanager
def without_marks() -> Iterator[None]:
    """Build the site as it was before the strips of last runs and the calendars: both drawn as
    nothing (the anchor of what they cost)."""
    from markupsafe import Markup

    from backupplan.site import history, reuse

    saved = history.run_strip, history.calendar, reuse.FRAGMENTS
    history.run_strip = lambda *args, **kwargs: ""
    history.calendar = lambda *args, **kwargs: Markup("")
    reuse.FRAGMENTS = reuse.FragmentCache()
    try:
        yield
    finally:
        history.run_strip, history.calendar, reuse.FRAGMENTS = saved


def marks_cost(data: SiteInput, site_dir: Path, small: SiteInput, small_dir: Path) -> None:
    """The strips' and calendars' share of a full build, and their bytes on a 10-job dashboard."""
    from backupplan.site import reuse

    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):
        for marks in (True, False):
            reuse.FRAGMENTS = reuse.FragmentCache()  # nothing kept: every strip drawn
            with contextlib.nullcontext() if marks else without_marks():
                start = time.process_time()
                build_site(data, site_dir)
                times[marks].append(time.process_time() - start)
    sizes: dict[bool, tuple[int, int]] = {}
    for marks in (False, True):
        with contextlib.nullcontext() if marks else without_marks():
            build_site(small, small_dir)
        page = (small_dir / "index.html").read_bytes()
        sizes[marks] = (len(page), len(gzip.compress(page)))
    with_marks, without = statistics.median(times[True]), statistics.median(times[False])
    print(
        f"strips and calendars, full build (CPU): {with_marks:.3f} s against {without:.3f} s without them: "
        f"+{(with_marks / without - 1) * 100:.0f} %  (target <= +10 %)"
    )
    grown = sizes[True][0] - sizes[False][0]
    print(
        f"10-job dashboard: {sizes[True][0]:,} bytes ({sizes[True][1]:,} gzipped) against "
        f"{sizes[False][0]:,} ({sizes[False][1]:,}) without strips: +{grown:,} bytes "
        f"(+{sizes[True][1] - sizes[False][1]:,} gzipped)  (target <= +3 KB)"
    )


# The parts of a build timed for the breakdown of a rebuild after one run: (module, owner, name).
PARTS = (
    ("backupplan.site.build", None, "full_build_key"),
    ("backupplan.site.writer", "SiteWriter", "__init__"),
    ("backupplan.site.build", "views", "job_views"),
    ("backupplan.site.build", None, "publish_job_logs"),
    ("backupplan.site.recent", "KeptLines", "read"),
    ("backupplan.site.build", None, "_changes_lists"),
    ("backupplan.site.build", None, "status_files"),
    ("backupplan.site.render", "Renderer", "job_page"),
    ("backupplan.site.render", "Renderer", "dashboard"),
    ("backupplan.site.render", "Renderer", "jobs_pages"),
    ("backupplan.site.render", "Renderer", "logs_page"),
    ("backupplan.site.render", "Renderer", "feed"),
    ("backupplan.site.render", "Renderer", "metrics"),
    ("backupplan.site.writer", "SiteWriter", "put_bytes"),
    ("backupplan.site.writer", "SiteWriter", "save"),
    ("backupplan.site.build", None, "write_live"),
)


@contextlib.contextmanager
def timing_parts(spent: dict[str, list[float]]) -> Iterator[None]:
    """Time each of PARTS while inside (wall clock, seconds, one entry per call, under its name)."""
    import importlib

    saved = []
    for module_name, owner_name, name in PARTS:
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        original = getattr(owner, name)
        label = name if owner_name in (None, "views", "Renderer") else f"{owner_name}.{name}"

        def timed_part(*args, _original=original, _label=label, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent.setdefault(_label, []).append(time.perf_counter() - start)

        setattr(owner, name, timed_part)
        saved.append((owner, name, original))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def rebuild_breakdown(data: SiteInput, site_dir: Path, job: str, first_step: int, repeat: int = 9) -> None:
    """Where the time of a rebuild after one run goes: each part's mean over `repeat` builds, and
    what is left (the lock, the manifest's checks, the strips' and rows' keys, putting pages
    together). A part's first call in a build makes the keys every later one uses (reuse.view_key:
    the first page rendered, the job's own)."""
    spent: dict[str, list[float]] = {}
    totals = []
    with timing_parts(spent):
        for step in range(first_step, first_step + repeat):
            start = time.perf_counter()
            build_site(finish_one_run(data, job, step), site_dir, changed_jobs=[job])
            totals.append(time.perf_counter() - start)
    print(f"  where a rebuild after one run spends its time (mean of {repeat} builds, ms):")
    shares = {name: sum(times) / repeat for name, times in spent.items()}
    for name, share in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"    {name:<24} {share * 1000:7.2f}")
    rest = statistics.mean(totals) - sum(shares.values())
    print(f"    {'(the rest)':<24} {rest * 1000:7.2f}   of {statistics.mean(totals) * 1000:.1f} ms in all")


def anchor_copy(site_dir: Path, scratch: Path) -> float:
    """The anchor: write the same HTML bytes (every page) with plain os.write, no rendering."""
    pages = [(path.relative_to(site_dir), path.read_bytes()) for path in site_dir.rglob("*.html")]
    shutil.rmtree(scratch, ignore_errors=True)
    start = time.perf_counter()
    for relative, data in pages:
        target = scratch / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not ready")


def python_load(url: str, seconds: float, threads: int) -> float:
    """A small threaded client: GET `url` for `seconds` from `threads` threads; return requests/s."""
    count = [0] * threads
    deadline = time.monotonic() + seconds

    def worker(slot: int) -> None:
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
            count[slot] += 1

    pool = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(count) / seconds


def wrk_load(url: str, seconds: int) -> float:
    output = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("Requests/sec:"))
    return float(line.split()[1])


def measure_server(name: str, command: list[str], port: int, path: str) -> None:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/{path}"
        if shutil.which("wrk"):
            rate, tool = wrk_load(url, 5), "wrk -t2 -c16 -d5s"
        else:
            rate, tool = python_load(url, 5, 8), "threaded Python client, 8 threads, 5 s"
        print(f"  {name:<28} {path:<16} {rate:>10,.0f} requests/s  ({tool})")
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="skip the web server measurements")
    options = parser.parse_args()

    state_dir = DATA / f"state-{options.jobs}x{options.runs}"
    site_dir = DATA / "site"
    marker = state_dir / ".complete-2"  # 2: logs carry their run's end as modification time
    generating = not marker.exists()
    started = time.perf_counter()
    if generating:
        shutil.rmtree(state_dir, ignore_errors=True)
    data = make_input(options.jobs, options.runs, state_dir, site_dir, write_logs=generating)
    if generating:
        marker.write_text("ok\n")
    lines = options.jobs * min(options.runs, LOGGED_RUNS) * LINES_PER_LOG
    print(
        f"synthetic state: {options.jobs:,} jobs x {options.runs} runs, {lines:,} log lines "
        f"({'generated' if generating else 'reused'} in {time.perf_counter() - started:.1f} s)"
    )

    shutil.rmtree(site_dir, ignore_errors=True)
    cold, _ = timed(lambda: build_site(data, site_dir))
    report = build_site(data, site_dir)
    full, full_runs = timed(lambda: build_site(data, site_dir), repeat=3)
    print(f"cold build (empty site, {report.logs.current:,} logs published):  {cold:8.3f} s")
    print(f"full build (all pages rendered again): {full:8.3f} s  ({series(full_runs, 1)} s; target <= 3 s)")

    job = "job-0500"
    steps = iter(range(1, 1000))
    incremental, incremental_runs = timed(
        lambda: build_site(finish_one_run(data, job, next(steps)), site_dir, changed_jobs=[job]), repeat=5
    )
    runs = series(incremental_runs, 1000)
    print(f"rebuild after one run finished: {incremental * 1000:8.1f} ms  ({runs} ms; target <= 50 ms)")
    rebuild_breakdown(data, site_dir, job, next(steps))

    status = json.loads(json.dumps(data.status))
    status["jobs"][0]["status"] = "running"

    def tick() -> None:
        status["jobs"][0]["progress"] = {
            "run": "x",
            "percent": random.uniform(0, 100),
            "bytes": 1,
            "total_bytes": 2,
            "rate": 1.0,
            "eta": 1.0,
        }
        write_progress(status, site_dir)

    progress, _ = timed(tick, repeat=20)
    print(f"progress-only update ({options.jobs:,} jobs): {progress * 1000:8.1f} ms  (target <= 10 ms)")

    small_dir = Path(tempfile.mkdtemp(prefix="site-small-"))
    small = make_input(10, options.runs, state_dir, small_dir, write_logs=False)
    small = replace(small, status=dict(small.status, recent_runs=small.status["recent_runs"][:10]))
    build_site(small, small_dir)
    size_small = (small_dir / "status.json").stat().st_size
    size_small_gzip = len(gzip.compress((small_dir / "status.json").read_bytes()))
    marks_cost(data, site_dir, small, small_dir)
    shutil.rmtree(small_dir)
    size_index = (site_dir / "index.html").stat().st_size
    size_status = (site_dir / "status.json").stat().st_size
    print(f"status.json, 10 jobs:   {size_small:>9,} bytes ({size_small_gzip:,} gzipped)   target <= 2 KB")
    print(f"status.json, {options.jobs:,} jobs: {size_status:>9,} bytes")
    print(f"index.html, {options.jobs:,} jobs:  {size_index:>9,} bytes   target <= 50 KB")

    anchor = anchor_copy(site_dir, DATA / "anchor")
    pages = sum(1 for _ in site_dir.rglob("*.html"))
    print(
        f"anchor: writing the same {pages:,} pages' bytes with plain os.write: {anchor:.3f} s; "
        f"full build / anchor = {full / anchor:.1f}x"
    )

    if options.quick:
        return
    print("static servers on 127.0.0.1:")
    port = free_port()
    measure_server(
        "python -m http.server",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site_dir)],
        port,
        "index.html",
    )
    port = free_port()
    measure_server(
        "python -m http.server",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site_dir)],
        port,
        "status.json",
    )
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx:
        port = free_port()
        conf = DATA / "nginx.conf"
        conf.write_text(
            f"daemon off; worker_processes 2; pid {DATA}/nginx.pid; error_log {DATA}/nginx-error.log;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{ include /etc/nginx/mime.types; access_log off; types {{ text/plain prom txt; }}\n"
            + "".join(
                f"  {kind}_temp_path {DATA}/nginx-tmp;\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"  server {{ listen 127.0.0.1:{port}; root {site_dir}; }} }}\n"
        )
        (DATA / "nginx-tmp").mkdir(exist_ok=True)
        measure_server("nginx", [nginx, "-c", str(conf), "-p", str(DATA)], port, "index.html")
    else:
        print("  nginx not installed (apt-get install nginx-light to measure it)")


if __name__ == "__main__":
    main()
