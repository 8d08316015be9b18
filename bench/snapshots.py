"""Benchmark of snapshots: making one, against rsnapshot and raw `rsync --link-dest`; pruning 365.

    /work/main/.venv/bin/python bench/snapshots.py [--preset medium] [--rounds 5] [--prune-rounds 5]

1. A new snapshot after a day of changes, on the same source tree (make_tree.py's medium preset:
   20,000 files, ~300 MiB, in bench/data/), one contender after the other in a rotating order,
   every round after the same `mutate`:
   - backupplan, in process (a Session run, as the daemon does it: no interpreter start-up);
   - backupplan, `backupplan run JOB` as a command (start-up, journal, status site included);
   - rsnapshot 1.4 `daily` with its default method (cp -al, then rsync into the clone);
   - rsnapshot with `rsync_short_args -aHAXS` (keeping hard links, ACLs, xattrs and sparse files,
     as a backupplan job does by default: docs/fidelity.md);
   - rsnapshot with `link_dest 1` (rsync --link-dest);
   - raw `rsync -a --delete --link-dest=PREVIOUS SRC/ NEW/`.
   rsnapshot is the anchor: the ratios are backupplan / rsnapshot, measured in the same run.
2. The listing (`measure()`: files, size, unique size) of backupplan's snapshots of that tree.
3. Pruning 365 snapshots of the tiny preset (each a hard-linked copy, as daily snapshots are) with
   backupplan (plan, rename to trash, journal, delete) against `rm -rf` of the same 365 folders,
   interleaved.

Everything lives in bench/data/snapshots/ (git-ignored); the snapshot folders are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backupplan.journal import Journal
from backupplan.plan.load import load_plan
from backupplan.plan.model import Keep
from backupplan.runner import Session
from backupplan.snapshots import measure, plan_prune, prune, read_listing, snapshot_id

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MAKE_TREE = Path(os.environ.get("MAKE_TREE", "/work/shared/bench/make_tree.py"))
CONTENDERS = (
    "backupplan",
    "backupplan-cli",
    "rsnapshot",
    "rsnapshot-HAXS",
    "rsnapshot-link-dest",
    "rsync-link-dest",
)


def tree(data: Path, preset: str) -> Path:
    source = data / f"source-{preset}"
    marker = data / f"source-{preset}.done"
    if not marker.exists():
        shutil.rmtree(source, ignore_errors=True)
        print(f"generating the {preset} tree with {MAKE_TREE} …", flush=True)
        subprocess.run(
            [sys.executable, str(MAKE_TREE), "generate", str(source), "--preset", preset], check=True
        )
        marker.write_text("ok\n")
    return source


def mutate(source: Path, day: int) -> None:
    subprocess.run(
        [sys.executable, str(MAKE_TREE), "mutate", str(source), "--round", str(day)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def quiet(argv: list[str], **options: object) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **options)  # type: ignore[call-overload]


def timed(action: Callable[[], object]) -> float:
    os.sync()  # the previous run's writeback must not be billed to this one
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


class Contenders:
    """One snapshot root per contender, each with a first (untimed) full snapshot."""

    def __init__(self, root: Path, source: Path) -> None:
        self.root = root
        self.source = source
        self.plan = root / "backupplan" / "backups.yaml"
        self.plan.parent.mkdir(parents=True)
        self.plan.write_text(
            f"version: 1\nsettings: {{timezone: UTC, site_dir: site, state_dir: state}}\n"
            f"jobs:\n  medium:\n    engine: rsync\n    source: {source}\n    destination: ./snapshots\n"
            "    snapshots: {}\n"
        )
        self.loaded = load_plan(str(self.plan))
        self.journal = Journal.open(self.loaded.state_dir)
        self.clock = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
        self.raw_count = 0
        for kind in ("rsnapshot", "rsnapshot-HAXS", "rsnapshot-link-dest"):
            folder = root / kind
            folder.mkdir()
            link = "link_dest\t1\n" if kind == "rsnapshot-link-dest" else ""
            if kind == "rsnapshot-HAXS":  # keeping what a backupplan job keeps by default
                link = "rsync_short_args\t-aHAXS\n"
            (folder / "rsnapshot.conf").write_text(
                "config_version\t1.2\n"
                f"snapshot_root\t{folder}/snapshots/\n"
                "cmd_cp\t/bin/cp\ncmd_rm\t/bin/rm\ncmd_rsync\t/usr/bin/rsync\n"
                f"retain\tdaily\t1000\nlockfile\t{folder}/rsnapshot.pid\n{link}"
                f"backup\t{source}/\tlocalhost/\n"
            )
        (root / "rsync-link-dest").mkdir()

    def run(self, contender: str) -> None:
        if contender == "backupplan":
            self.clock += timedelta(hours=1)
            session = Session(self.loaded, self.journal, clock=lambda: self.clock)
            result = asyncio.run(session.run("medium"))
            assert result.status == "succeeded", result
        elif contender == "backupplan-cli":
            quiet(
                [sys.executable, "-m", "backupplan", "run", "medium", "--plan", str(self.plan)],
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        elif contender.startswith("rsnapshot"):
            quiet(["rsnapshot", "-c", str(self.root / contender / "rsnapshot.conf"), "daily"])
        else:
            folder = self.root / contender
            previous = folder / f"{self.raw_count:04d}"
            self.raw_count += 1
            argv = ["rsync", "-a", "--delete", f"{self.source}/", f"{folder / f'{self.raw_count:04d}'}/"]
            if self.raw_count > 1:
                argv.insert(3, f"--link-dest={previous}")
            quiet(argv)

    def close(self) -> None:
        self.journal.close()


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.3f} ({min(values):.3f}-{max(values):.3f})"


def snapshot_runs(source: Path, data: Path, rounds: int) -> Path:
    root = data / "contenders"
    shutil.rmtree(root, ignore_errors=True)
    contenders = Contenders(root, source)
    print(
        f"\n1. a new snapshot after a day of changes, {rounds} rounds, rotating order (seconds)", flush=True
    )
    for contender in CONTENDERS:  # the first snapshot: a full copy each, not timed
        if contender != "backupplan-cli":  # it shares the job (and its snapshots) with "backupplan"
            contenders.run(contender)
    samples: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    day = 100
    for round_number in range(rounds + 1):
        day += 1
        mutate(source, day)
        shift = round_number % len(CONTENDERS)
        for contender in CONTENDERS[shift:] + CONTENDERS[:shift]:
            seconds = timed(lambda contender=contender: contenders.run(contender))  # type: ignore[misc]
            if round_number:  # round 0 warms every contender up
                samples[contender].append(seconds)
        if round_number:
            print(f"   round {round_number} of {rounds} done", flush=True)
    contenders.close()
    anchor = statistics.median(samples["rsnapshot"])
    same = statistics.median(samples["rsnapshot-HAXS"])
    print(f"\n   {'contender':22} {'median (min-max)':>24}  / rsnapshot  / rsnapshot -aHAXS")
    for contender in CONTENDERS:
        median = statistics.median(samples[contender])
        ratios = f"{median / anchor:8.2f}x  {median / same:14.2f}x"
        print(f"   {contender:22} {summary(samples[contender]):>24}  {ratios}")
    return root / "backupplan" / "snapshots"


def listing_time(destination: Path) -> None:
    listing = read_listing(destination)
    started = time.perf_counter()
    measurement = measure(listing)
    seconds = time.perf_counter() - started
    files = sum(usage.files for usage in measurement.snapshots)
    print(
        f"\n2. listing {len(listing.complete)} snapshots ({files} files in all): {seconds:.3f} s, "
        f"{seconds / max(1, len(listing.complete)):.3f} s per snapshot"
    )


def pruning(data: Path, rounds: int) -> None:
    source = tree(data, "tiny")
    root = data / "prune"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    base = root / "base"
    quiet(["cp", "-a", str(source), str(base)])
    start = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
    names = [snapshot_id(start + timedelta(days=day)) for day in range(366)]
    print(f"\n3. pruning 365 of 366 snapshots of the tiny tree ({rounds} rounds, interleaved; seconds)")
    samples: dict[str, list[float]] = {"backupplan": [], "rm -rf": []}
    journal = Journal.open(root / "state")
    for round_number in range(rounds):
        for how in ("backupplan", "rm -rf") if round_number % 2 == 0 else ("rm -rf", "backupplan"):
            destination = root / f"{how.replace(' ', '')}-{round_number}"
            destination.mkdir()
            for name in names:
                quiet(["cp", "-al", str(base), str(destination / name)])
            if how == "backupplan":

                def once(destination: Path = destination) -> None:
                    plan = plan_prune(read_listing(destination), Keep(last=1), UTC)
                    asyncio.run(prune(plan, on_moved=lambda done: journal.append(
                        "snapshot.pruned", job="bench", data=done.record()
                    )))  # fmt: skip
            else:

                def once(destination: Path = destination) -> None:
                    quiet(["rm", "-rf", *(str(destination / name) for name in names[:-1])])

            samples[how].append(timed(once))
            assert sorted(os.listdir(destination)) in ([names[-1]], [names[-1], "latest"]), destination
            shutil.rmtree(destination)
    journal.close()
    anchor = statistics.median(samples["rm -rf"])
    for how, values in samples.items():
        print(f"   {how:12} {summary(values):>24}  {statistics.median(values) / anchor:6.2f}x of rm -rf")
    shutil.rmtree(root)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="medium", choices=["tiny", "small", "medium"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prune-rounds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=HERE / "data" / "snapshots")
    options = parser.parse_args()
    from runner import compile_package  # bench/runner.py, beside this script

    compile_package()  # the bytecode written first, as installing does (bench/runner.py)
    options.data.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(["rsnapshot", "version"], capture_output=True, text=True, check=False).stdout
    print(f"{version.strip()}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    source = tree(options.data, options.preset)
    working = options.data / f"working-{options.preset}"
    shutil.rmtree(working, ignore_errors=True)
    quiet(["cp", "-a", str(source), str(working)])  # mutated round by round; the generated tree stays
    try:
        if options.rounds:
            destination = snapshot_runs(working, options.data, options.rounds)
            listing_time(destination)
        if options.prune_rounds:
            pruning(options.data, options.prune_rounds)
    finally:
        shutil.rmtree(options.data / "contenders", ignore_errors=True)
        shutil.rmtree(working, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
