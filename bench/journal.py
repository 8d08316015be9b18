"""Journal benchmark: appends per second with fsync, replay, open after compaction, state memory.

    /work/main/.venv/bin/python bench/journal.py [--records 1000000] [--appends 2000]

Figures, each against what it is measured with in the same run:

- appends/s through `Journal.append` (lock, read-before-write, one write, fsync) against the anchor:
  raw `os.write` + `fsync` of the same lines on the same disk;
- replay: `Journal.open` of a journal of N records with no checkpoint (target <= 2 s for 1,000,000);
- open after compaction: the same history compacted, then `Journal.open` (target <= 100 ms);
- memory (RSS growth) of the folded state of 1,000 jobs x 1,000 runs, in a fresh process.

Data goes to bench/data/journal/ (git-ignored) and is deleted afterwards.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backupplan.journal import Journal  # noqa: E402
from backupplan.journal.fold import Folder  # noqa: E402
from backupplan.journal.records import encode_line, raw_record  # noqa: E402
from backupplan.journal.state import State  # noqa: E402

DATA = ROOT / "bench" / "data" / "journal"
ARGV = [
    "rsync", "--archive", "--delete", "--partial", "--partial-dir=.rsync-partial", "--info=progress2",
    "--stats", "--bwlimit=5m", "--exclude=*.tmp", "--exclude=.cache/", "/home/user/Pictures/",
    "/mnt/nas/photos/",
]  # fmt: skip


def run_records(seq: int, job: str, run: str, ts: str) -> list[dict[str, object]]:
    """The three records of one ordinary run, as the runner writes them."""
    return [
        raw_record(
            seq=seq,
            ts=ts,
            type="run.started",
            job=job,
            run=run,
            data={
                "trigger": "schedule",
                "engine": "rsync",
                "attempt": 1,
                "argv": ARGV,
                "pid": 41230,
                "pgid": 41230,
                "start_time": 912345,
                "boot_id": "3f9a0c1e-5d4b-4c2a-9e8f-7a6b5c4d3e2f",
                "log": f"logs/{job}/{run}.log",
            },
        ),
        raw_record(
            seq=seq + 1,
            ts=ts,
            type="run.attempt",
            job=job,
            run=run,
            data={
                "attempt": 1,
                "exit_code": 0,
                "signal": None,
                "outcome": "ok",
                "message": "",
                "retry_in": None,
            },
        ),
        raw_record(
            seq=seq + 2,
            ts=ts,
            type="run.finished",
            job=job,
            run=run,
            data={
                "status": "succeeded",
                "exit_code": 0,
                "bytes": 1048576 + seq,
                "files": 12,
                "duration": 41.2,
                "attempts": 1,
                "reason": None,
            },
        ),
    ]


def write_history(path: Path, records: int, jobs: int) -> None:
    """Write a journal of `records` records (runs spread over `jobs` jobs), without fsync per line."""
    seq = 1
    with open(path, "wb", buffering=8 * 1024 * 1024) as out:
        while seq <= records:
            number = (seq - 1) // 3
            job = f"job-{number % jobs:04d}"
            run = f"20261128T{number % 86400:06d}Z-{number:x}"
            for raw in run_records(seq, job, run, "2026-11-28T02:00:41.123Z"):
                if raw["seq"] > records:  # type: ignore[operator]
                    break
                out.write(encode_line(raw))
            seq += 3
    os.chmod(path, 0o600)


def appends_per_second(folder: Path, count: int) -> tuple[float, float]:
    """Return (Journal.append per second, raw os.write+fsync per second) on the same disk."""
    state_dir = folder / "appends"
    journal = Journal.open(state_dir)
    data = run_records(1, "photos", "r", "x")[2]["data"]
    started = time.perf_counter()
    for _ in range(count):
        journal.append("run.finished", job="photos", run="20261128T020000Z-3f9a", data=data)  # type: ignore[arg-type]
    journal_rate = count / (time.perf_counter() - started)
    journal.close()
    line = (state_dir / "journal.jsonl").read_bytes().splitlines(keepends=True)[-1]
    raw_path = folder / "raw.jsonl"
    fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    started = time.perf_counter()
    for _ in range(count):
        os.write(fd, line)
        os.fsync(fd)
    raw_rate = count / (time.perf_counter() - started)
    os.close(fd)
    return journal_rate, raw_rate


def timed_open(state_dir: Path, repeats: int) -> tuple[float, Journal]:
    """Return the median seconds of `Journal.open` (without automatic compaction) and the last one."""
    times = []
    journal = None
    for _ in range(repeats):
        if journal is not None:
            journal.close()
        gc.collect()
        started = time.perf_counter()
        journal = Journal.open(state_dir, compact_after=None)
        times.append(time.perf_counter() - started)
    assert journal is not None
    return statistics.median(times), journal


def parse_floor(path: Path) -> float:
    """Seconds to read the file and orjson-decode every line, nothing else: the anchor of replay."""
    import orjson

    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        with open(path, "rb") as handle:
            for line in handle:
                orjson.loads(line)
        return time.perf_counter() - started
    finally:
        gc.enable()


def state_memory(jobs: int, runs: int) -> str:
    """Fold jobs x runs runs in this process; return the RSS growth in MiB (run in a fresh process)."""

    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    gc.collect()
    before = rss()
    state = State()
    folder = Folder(state)
    seq = 1
    for number in range(runs):
        for job_number in range(jobs):
            job = f"job-{job_number:04d}"
            for raw in run_records(seq, job, f"20261128T020000Z-{number:x}", "2026-11-28T02:00:41.123Z"):
                folder.apply(raw)
            seq += 3
    gc.collect()
    grown = rss() - before
    kept = sum(len(job.history) for job in state.jobs.values())
    return f"{grown / 1048576:.1f} MiB for {len(state.jobs)} jobs, {kept} run summaries kept"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--appends", type=int, default=2_000)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.memory_child:
        print(state_memory(1_000, 1_000))
        return
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    try:
        journal_rate, raw_rate = appends_per_second(DATA, options.appends)
        print(f"appends with fsync: {journal_rate:,.0f}/s (anchor os.write+fsync: {raw_rate:,.0f}/s, ")
        print(f"  ratio {journal_rate / raw_rate:.2f}x of the anchor)")

        history = DATA / "history"
        history.mkdir(mode=0o700)
        started = time.perf_counter()
        write_history(history / "journal.jsonl", options.records, options.jobs)
        size = (history / "journal.jsonl").stat().st_size
        print(
            f"wrote {options.records:,} records ({size / 1048576:.0f} MiB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        floor = parse_floor(history / "journal.jsonl")
        replay, journal = timed_open(history, 3)
        records = journal.state.records
        print(
            f"replay of {records:,} records: {replay:.2f} s (target <= 2 s: {replay / 2:.2f}x of it; "
            f"anchor, reading and decoding the lines only: {floor:.2f} s, ratio {replay / floor:.2f}x)"
        )
        journal.compact()
        journal.close()
        compacted = (history / "journal.jsonl").stat().st_size
        checkpoint_floor = parse_floor(history / "journal.jsonl")
        after, journal = timed_open(history, 7)
        print(
            f"open after compaction ({records:,} records of history, checkpoint "
            f"{compacted / 1048576:.1f} MiB): {after * 1000:.0f} ms (target <= 100 ms: "
            f"{after / 0.1:.2f}x of it; anchor, decoding the checkpoint line: "
            f"{checkpoint_floor * 1000:.0f} ms, ratio {after / checkpoint_floor:.2f}x)"
        )
        journal.close()
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child"], capture_output=True, text=True, check=True
        )
        print(f"folded state, 1,000 jobs x 1,000 runs: {child.stdout.strip()}")
    finally:
        shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
