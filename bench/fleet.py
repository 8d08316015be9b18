"""What a fleet costs: `fleet build` for 100 and 1,000 hosts of 50 jobs each, the fleet page's
size, and what publishing adds to a run.

Run: .venv/bin/python bench/fleet.py [--runs N]

Hosts: one real 50-job status document (a plan with a week of history, built by `backupplan
status --json`), published as every host of the fleet under its own name; one host in ten has a
failed job, one in twenty stopped publishing an hour ago (silent). Anchor for the build: reading
and parsing every host's status.json, the least any fleet page must do, measured in the same run.

Publishing: `backupplan run docs` of a small folder to a local destination, without and with
`settings.publish` (to a local folder, status only), against raw rsync of the same folder. The run
is recorded before the upload starts; the table shows both the command's wall time and the run's
recorded duration.

Targets (issue: fleet): fleet build for 100 hosts x 50 jobs <= 2 s (report 1,000 hosts); the
fleet page <= 100 KB for 100 hosts; publishing adds <= 50 ms to a run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data" / "fleet"
sys.path.insert(0, str(ROOT))

from check import child_env, write_history  # noqa: E402  (bench/check.py)
from startup import generate_plan  # noqa: E402

from backupplan.fleet.build import build_fleet  # noqa: E402

JOBS = 50


def host_document() -> dict:  # type: ignore[type-arg]
    folder = DATA / "host"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plan = folder / "backups.yaml"
    generate_plan(plan, JOBS)
    write_history(plan, runs=7)
    script = Path(sys.executable).parent / "backupplan"
    status = subprocess.run(
        [script, "status", "--json", "-p", str(plan)], capture_output=True, check=True, env=child_env()
    )
    return json.loads(status.stdout)  # type: ignore[no-any-return]


def publish_fleet(document: dict, hosts: int) -> Path:  # type: ignore[type-arg]
    """Every host's status.json under `DATA/hosts-N/HOST/`."""
    folder = DATA / f"hosts-{hosts}"
    shutil.rmtree(folder, ignore_errors=True)
    now = datetime.now(UTC)
    for number in range(hosts):
        name = f"host-{number:04d}"
        copy = json.loads(json.dumps(document))
        copy["host"] = name
        copy["generated_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        copy["freshness"] = {
            "kept_by": "daemon",
            "heartbeat": 60,
            "expected_by": (now + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if number % 20 == 7:  # stopped an hour ago
            copy["generated_at"] = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            copy["freshness"]["expected_by"] = (now - timedelta(minutes=57)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if number % 10 == 3:
            copy["jobs"][0]["status"] = "failed"
            copy["jobs"][0]["last_run"] = {
                **copy["jobs"][0]["last_run"],
                "status": "failed",
                "reason": "exit 23: some files vanished",
            }
        (folder / name).mkdir(parents=True)
        (folder / name / "status.json").write_bytes(orjson.dumps(copy))
    return folder


def anchor_read(folder: Path) -> float:
    start = time.perf_counter()
    for path in sorted(folder.glob("*/status.json")):
        orjson.loads(path.read_bytes())
    return time.perf_counter() - start


def timed(function, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_build(runs: int) -> None:
    document = host_document()
    print(f"one host's status.json ({JOBS} jobs): {len(orjson.dumps(document)) / 1024:.0f} KiB")
    header = (
        "hosts",
        "anchor: read+parse s",
        "fleet build s",
        "x anchor",
        "cold CLI s",
        "page KiB",
        "status KiB",
    )
    print("{:>6} {:>21} {:>14} {:>9} {:>11} {:>9} {:>11}".format(*header))
    script = str(Path(sys.executable).parent / "backupplan")
    for hosts in (100, 1000):
        folder = publish_fleet(document, hosts)
        site = DATA / f"site-{hosts}"
        anchor = timed(lambda folder=folder: anchor_read(folder), runs)
        build = timed(lambda folder=folder, site=site: build_fleet(str(folder), site, base_dir=DATA), runs)
        cold = []
        for _ in range(max(1, runs // 2)):
            start = time.perf_counter()
            argv = [script, "fleet", "build", "--from", str(folder), "--site", str(site)]
            result = subprocess.run(argv, capture_output=True, check=False, env=child_env())
            if result.returncode > 1:  # 1: some hosts are silent, as made above
                raise SystemExit(f"fleet build failed: {result.stdout.decode()}{result.stderr.decode()}")
            cold.append(time.perf_counter() - start)
        page = (site / "index.html").stat().st_size / 1024
        status = (site / "status.json").stat().st_size / 1024
        row = (hosts, anchor, build, build / anchor, statistics.median(cold), page, status)
        print("{:6d} {:21.3f} {:14.3f} {:9.1f} {:11.3f} {:9.1f} {:11.1f}".format(*row))


PLAN = """\
version: 1
settings:
  state_dir: state
  site_dir: site
{publish}jobs:
  docs:
    engine: rsync
    source: src
    destination: dst
"""


def bench_publish(runs: int) -> None:
    folder = DATA / "publish"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "src").mkdir(parents=True)
    for number in range(200):
        (folder / "src" / f"file-{number}.txt").write_bytes(b"x" * 2000)
    script = str(Path(sys.executable).parent / "backupplan")
    variants = {
        "without publish": "",
        "with publish (folder, status only)": "  publish:\n    to: store\n",
        "with publish (folder, whole site)": "  publish:\n    to: store\n    site: true\n",
    }
    raw = []
    for _ in range(runs):
        shutil.rmtree(folder / "raw", ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(["rsync", "-a", f"{folder / 'src'}/", str(folder / "raw")], check=True)
        raw.append(time.perf_counter() - start)
    print(f"\n{'run of a 200-file folder':36} {'wall ms':>8} {'recorded ms':>12} {'vs raw rsync':>13}")
    print(f"{'raw rsync -a':36} {statistics.median(raw) * 1000:8.0f} {'':>12} {'1.0x':>13}")
    for label, publish in variants.items():
        variant = folder / label.split()[0] / label.split()[-1].strip(")")
        walls, recorded = [], []
        for _ in range(runs):
            shutil.rmtree(variant, ignore_errors=True)
            variant.mkdir(parents=True)
            shutil.copytree(folder / "src", variant / "src")
            (variant / "backups.yaml").write_text(PLAN.format(publish=publish))
            start = time.perf_counter()
            subprocess.run(
                [script, "run", "docs", "-p", str(variant / "backups.yaml")],
                capture_output=True,
                check=True,
                env=child_env(),
            )
            walls.append(time.perf_counter() - start)
            status = subprocess.run(
                [script, "status", "--json", "-p", str(variant / "backups.yaml")],
                capture_output=True,
                check=True,
                env=child_env(),
            )
            recorded.append(json.loads(status.stdout)["jobs"][0]["last_run"]["duration"])
        wall = statistics.median(walls)
        ratio = wall / statistics.median(raw)
        print(f"{label:36} {wall * 1000:8.0f} {statistics.median(recorded) * 1000:12.0f} {ratio:12.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bench_build(args.runs)
    bench_publish(args.runs)


if __name__ == "__main__":
    main()
