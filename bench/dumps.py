"""What a PostgreSQL dump costs through backupplan, against pg_dump alone, measured in the same run.

Run: .venv/bin/python bench/dumps.py [--size-mb 500] [--rounds 5]

A throwaway PostgreSQL server (tests/databases.py: Debian's postgresql package, in a scratch
folder; nothing of the machine's own clusters is touched) gets one table of about --size-mb
megabytes of dump (generate_series). Then, in alternating order, each round times:

- `pg_dump` alone: the same command line backupplan builds (plain format, --clean --if-exists,
  --file), run by subprocess, writing a fresh file (neither flushes a plain dump to disk; see
  backupplan/dumps/files.py for why backupplan need not);
- backupplan's dumps phase (`backupplan.dumps.take_dumps`, what `backupplan run` does before the
  transfer): version lookup, the executor (own process group, parent-death signal), the 0600 temp
  file, the completion-line check, the rename; into an empty dumps folder (a first dump);
- the same with the previous, identical dump in place (a database that did not change): the new
  file is compared with the old one and dropped, so the transfer and snapshots skip it.

Before each timed run the page cache's dirty pages are written out (`sync`), so that no run pays
for the writeback of the one before. Rounds rotate which measurement goes first. Prints the medians
and the ratios, and each round's figures (a shared VM's disk is noisy).
Target (issue: database dumps): backupplan <= 1.05x pg_dump.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backupplan.dumps import take_dumps  # noqa: E402
from backupplan.dumps.argv import dump_argv, environment  # noqa: E402
from backupplan.plan.model import Job  # noqa: E402
from tests.databases import Postgres, client_environment, require_postgres  # noqa: E402

ROW_BYTES = 146  # one row of the table below, as pg_dump writes it
TARGET = 1.05


class Silent:
    """A run log that keeps nothing (the bench measures the dump, not the log)."""

    def line(self, tag: str, text: str) -> None:
        pass

    def output(self, tag: str, record: bytes) -> None:
        pass


def fill(server: Postgres, database: str, size_mb: int) -> None:
    rows = size_mb * 1_000_000 // ROW_BYTES
    server.psql(
        "CREATE TABLE events AS SELECT g AS id, md5(g::text) || repeat('x', 100) AS note "
        f"FROM generate_series(1, {rows}) g; VACUUM ANALYZE events",
        database,
    )


def job_for(server: Postgres, database: str, source: Path) -> Job:
    return Job.model_validate(
        {
            "engine": "rsync",
            "source": str(source),
            "destination": str(source.parent / "out"),
            "dumps": [
                {
                    "name": "app",
                    "engine": "postgresql",
                    "database": database,
                    "host": server.host,
                    "port": server.port,
                    "user": server.user,
                    "password": server.password,
                }
            ],
        }
    )


def time_pg_dump(job: Job, output: Path) -> float:
    dump = job.dumps[0]
    output.unlink(missing_ok=True)
    argv = dump_argv(dump, shutil.which("pg_dump") or "pg_dump", output)
    env = environment(dump, client_environment({}))
    os.sync()  # no run pays for the writeback of the one before
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_backupplan(job: Job, source: Path, *, keep_previous: bool) -> tuple[float, str]:
    if not keep_previous:
        shutil.rmtree(source / job.dumps_dir, ignore_errors=True)
    os.sync()
    started = time.perf_counter()
    dumped = asyncio.run(
        take_dumps(
            job, str(source), source, log=Silent(), deadline=time.monotonic() + 3600, cancel=asyncio.Event()
        )
    )
    took = time.perf_counter() - started
    if dumped.failure is not None:
        raise SystemExit(f"the dump failed: {dumped.failure.message}")
    return took, dumped.records[0].status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500, help="size of the dump, in MB (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each measurement (default 5)")
    arguments = parser.parse_args()
    server = Postgres(require_postgres())
    work = Path(tempfile.mkdtemp(prefix="backupplan-bench-dumps-"))
    try:
        server.start()
        database = server.create_database("bench")
        began = time.perf_counter()
        fill(server, database, arguments.size_mb)
        filled = time.perf_counter() - began
        print(f"PostgreSQL {server.version}: ~{arguments.size_mb} MB of dump, filled in {filled:.1f}s")
        source = work / "src"
        source.mkdir()
        job = job_for(server, database, source)
        alone: list[float] = []
        first: list[float] = []
        unchanged: list[float] = []
        time_pg_dump(job, work / "warm.sql")  # warm the server's cache once, for both sides alike
        for number in range(arguments.rounds):
            runs = [
                lambda: alone.append(time_pg_dump(job, work / "alone.sql")),
                lambda: first.append(time_backupplan(job, source, keep_previous=False)[0]),
            ]
            for run in runs[number % len(runs) :] + runs[: number % len(runs)]:  # each one first in turn
                run()
            took, status = time_backupplan(job, source, keep_previous=True)
            assert status == "unchanged", status
            unchanged.append(took)
        size = (source / job.dumps_dir / job.dumps[0].file_name).stat().st_size
        assert size == (work / "alone.sql").stat().st_size
        base = statistics.median(alone)
        print(f"dump size: {size / 1e6:.0f} MB; medians of {arguments.rounds} rounds")
        rounds = ", ".join(f"{took:.2f}" for took in alone)
        print(f"  {'pg_dump alone:':35s} {base:7.2f}s  ({size / 1e6 / base:.0f} MB/s; rounds {rounds})")
        for label, times in (
            ("backupplan, first dump:", first),
            ("backupplan, database unchanged:", unchanged),
        ):
            median = statistics.median(times)
            rounds = ", ".join(f"{took:.2f}" for took in times)
            print(f"  {label:35s} {median:7.2f}s  ratio {median / base:.3f}x  (rounds {rounds})")
        ratio = statistics.median(first) / base
        print(f"target <= {TARGET:.2f}x: {'met' if ratio <= TARGET else 'NOT met'} ({ratio:.3f}x)")
        return 0 if ratio <= TARGET else 1
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    sys.exit(main())
