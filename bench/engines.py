"""Benchmark of the engines and the executor on a generated source tree.

    /work/main/.venv/bin/python bench/engines.py [--preset medium] [--rounds 3]

Prints, for rsync and rclone:
1. the CPU cost of progress parsing: seconds spent in the parser's feed() over every record of a
   real full copy, as a share of one core over the copy's wall time (target: under 2 %);
2. a full copy and a no-change rerun driven through backupplan's executor (engine argv, parser,
   spawner thread, setpriv) next to raw `rsync -a SRC/ DST/` and `rclone copy SRC DST` on the same
   tree, interleaved round by round in a rotating order, with the ratio executor / raw. The raw
   run is the anchor measured in the same run; bench/BASELINE.md's figures are shown for context.

The tree comes from make_tree.py (the shared benchmark generator) and lives in bench/data/
(git-ignored). Full copies go to fresh folders that are moved aside, not deleted, between runs:
deleting a big tree right before a copy slows the copy down on this kind of VM (BASELINE.md).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backupplan.engines import ENGINES, Engine, TransferSpec
from backupplan.process.execute import run_process

HERE = Path(__file__).resolve().parent
MAKE_TREE = Path(os.environ.get("MAKE_TREE", "/work/shared/bench/make_tree.py"))
BASELINE = {  # bench/BASELINE.md, medium preset (another method: context only)
    ("rsync", "full"): 1.569,  # ic_rsync_full, the most repeatable full-copy figure
    ("rsync", "no-change"): 0.231,
    ("rclone", "full"): 2.417,
    ("rclone", "no-change"): 0.360,
}


def prepare_tree(data: Path, preset: str) -> Path:
    source = data / preset / "source"
    marker = data / preset / "source.done"
    if not marker.exists():
        if source.exists():
            shutil.rmtree(source)
        print(f"generating the {preset} tree with {MAKE_TREE} …", flush=True)
        subprocess.run(
            [sys.executable, str(MAKE_TREE), "generate", str(source), "--preset", preset], check=True
        )
        marker.write_text("ok\n")
    return source


class Destinations:
    """Fresh destination folders; used ones are moved to a trash folder and deleted at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.trash = root / "trash"
        self.trash.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def fresh(self, name: str) -> Path:
        self.count += 1
        return self.root / f"{name}-{os.getpid()}-{self.count}"

    def discard(self, path: Path) -> None:
        if path.exists():
            path.rename(self.trash / path.name)

    def empty_trash(self) -> None:
        shutil.rmtree(self.trash, ignore_errors=True)


def timed(action: Callable[[], object]) -> float:
    os.sync()  # the previous copy's writeback must not be billed to this one
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def raw_command(engine: str, source: Path, destination: Path) -> list[str]:
    if engine == "rsync":
        return ["rsync", "-a", f"{source}/", f"{destination}/"]
    return ["rclone", "copy", str(source), str(destination)]


def run_raw(argv: list[str]) -> None:
    env = {key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)


class Measured:
    """A run through the executor that times every feed() call."""

    def __init__(self, engine: Engine, interval: float | None = None) -> None:
        self.engine = engine
        self.parser = engine.parser() if interval is None else engine.parser(interval=interval)
        self.feed_seconds = 0.0
        self.records = 0
        self.wall = 0.0
        self.cpu = 0.0

    def _feed(self, record: bytes, stream: str) -> None:
        started = time.perf_counter()
        self.parser.feed(record, "stdout" if stream == "stdout" else "stderr")
        self.feed_seconds += time.perf_counter() - started
        self.records += 1

    def run(self, source: Path, destination: Path) -> Measured:
        spec = TransferSpec(f"{source}/", str(destination))
        cpu = time.process_time()
        started = time.perf_counter()
        result = asyncio.run(
            run_process(
                self.engine.argv(spec),
                env=self.engine.environment(spec, dict(os.environ)),
                on_stdout=lambda record: self._feed(record, "stdout"),
                on_stderr=lambda record: self._feed(record, "stderr"),
            )
        )
        self.wall = time.perf_counter() - started
        self.cpu = time.process_time() - cpu
        if result.exit_code != 0:
            raise SystemExit(f"{self.engine.name} failed: {result} {self.parser.stats().error_messages}")
        return self


def warm_up(source: Path, destinations: Destinations) -> None:
    """One small run per engine first, so that imports and first-use costs are not measured."""
    tiny = destinations.root / "warm-up-source"
    tiny.mkdir(parents=True, exist_ok=True)
    (tiny / "file").write_bytes(b"x")
    for name in ("rsync", "rclone"):
        destination = destinations.fresh(f"warm-up-{name}")
        Measured(ENGINES[name]).run(tiny, destination)
        destinations.discard(destination)


def parsing_cost(source: Path, destinations: Destinations) -> None:
    print("\n1. progress parsing cost during a real full copy (share of one core)")
    print(
        f"   {'engine':8} {'parser':22} {'records':>8} {'in feed()':>10} {'copy':>8} {'cost':>7}"
        f" {'at speed':>9}  own CPU (executor + parser, all threads)"
    )
    for name in ("rsync", "rclone"):
        variants: list[tuple[str, float | None]] = [("as used (throttled)", None)]
        if name == "rsync":
            variants.append(("every record parsed", 0.0))
        for label, interval in variants:
            destination = destinations.fresh(f"parse-{name}")
            os.sync()
            measured = Measured(ENGINES[name], interval).run(source, destination)
            destinations.discard(destination)
            # A slow copy (this VM's disk is noisy) would make the share look small: also divide by
            # the fastest full copy BASELINE.md measured, whichever is shorter.
            fastest = min(measured.wall, BASELINE[(name, "full")])
            share = 100 * measured.feed_seconds / measured.wall
            at_speed = 100 * measured.feed_seconds / fastest
            own = 100 * measured.cpu / measured.wall
            print(
                f"   {name:8} {label:22} {measured.records:8d} {measured.feed_seconds * 1000:8.1f}ms"
                f" {measured.wall:7.2f}s {share:6.2f}% {at_speed:9.2f}%  {own:5.1f}%"
            )


HOWS = ("raw", "argv", "executor")  # plain tool; the engine's argv, output discarded; through the executor


def comparison(source: Path, destinations: Destinations, rounds: int) -> None:
    print(f"\n2. executor-driven vs raw, interleaved, {rounds} rounds (seconds, median and min-max)")
    print("   raw: `rsync -a SRC/ DST/` / `rclone copy SRC DST`; argv: the engine's full argv run")
    print("   directly with its output discarded; executor: run_process + parser (what backupplan does)")
    samples: dict[tuple[str, str, str], list[float]] = {}
    for round_number in range(rounds):
        shift = round_number % len(HOWS)  # each variant goes first, second and third in turn
        order = [(engine, how) for engine in ("rsync", "rclone") for how in HOWS[shift:] + HOWS[:shift]]
        for engine, how in order:
            destination = destinations.fresh(f"{engine}-{how}")

            def once(engine: str = engine, how: str = how, destination: Path = destination) -> None:
                if how == "raw":
                    run_raw(raw_command(engine, source, destination))
                elif how == "argv":
                    spec = TransferSpec(f"{source}/", str(destination))
                    run_raw(list(ENGINES[engine].argv(spec)))
                else:
                    Measured(ENGINES[engine]).run(source, destination)

            samples.setdefault((engine, how, "full"), []).append(timed(once))
            samples.setdefault((engine, how, "no-change"), []).append(timed(once))
            destinations.discard(destination)
        print(f"   round {round_number + 1} of {rounds} done", flush=True)
    print(
        f"\n   {'engine':7} {'run':10} {'raw':>20} {'argv':>20} {'executor':>20}  executor/raw  BASELINE.md"
    )
    for engine in ("rsync", "rclone"):
        for kind in ("full", "no-change"):
            cells = []
            for how in HOWS:
                values = samples[(engine, how, kind)]
                cells.append(f"{statistics.median(values):6.3f} ({min(values):.2f}-{max(values):.2f})")
            ratio = statistics.median(samples[(engine, "executor", kind)]) / statistics.median(
                samples[(engine, "raw", kind)]
            )
            print(
                f"   {engine:7} {kind:10} {cells[0]:>20} {cells[1]:>20} {cells[2]:>20}  {ratio:11.2f}x"
                f"  {BASELINE[(engine, kind)]:.3f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="medium", choices=["tiny", "small", "medium"])
    parser.add_argument("--rounds", type=int, default=6, help="0: measure the parsing cost only")
    parser.add_argument("--data", type=Path, default=HERE / "data")
    options = parser.parse_args()
    print(
        f"rsync {ENGINES['rsync'].version()}, rclone {ENGINES['rclone'].version()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    source = prepare_tree(options.data, options.preset)
    destinations = Destinations(options.data / options.preset / "runs")
    try:
        warm_up(source, destinations)
        parsing_cost(source, destinations)
        if options.rounds:
            comparison(source, destinations, options.rounds)
    finally:
        destinations.empty_trash()
    print(f"\nload at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
