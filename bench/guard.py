"""What counting changes and the guard cost, against raw rsync on the same tree in the same run.

Run: .venv/bin/python bench/guard.py [--preset medium] [--rounds 3]

1. Counting: rsync with backupplan's own argv, run by backupplan's executor and parsed by its
   parser, with and without the per-file lines that are counted (`--out-format=%i %n`): a full
   copy into an empty folder and a no-change rerun. Target: <= 3 % on the full copy, <= 20 ms on
   the no-change run.
2. The whole `backupplan run` of a mirror with its default guard (a dry run first, the transfer
   only when there is something within the limits to do), against raw `rsync -a --delete`:
   no-change (the dry run is the whole run; target <= raw + 150 ms), and a day of changes
   (make_tree.py mutate: the dry run plus the transfer), also with `guard: off` for comparison.

Trees come from make_tree.py (the shared generator; MAKE_TREE sets its path) in bench/data/guard/.
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
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from runner import BACKUPPLAN, MAKE_TREE, prepare_tree, timed  # noqa: E402
from runner import fresh as fresh_in  # noqa: E402

from backupplan.engines import get_engine  # noqa: E402
from backupplan.engines.base import TransferSpec  # noqa: E402
from backupplan.engines.changes import Changes  # noqa: E402

DATA = HERE / "data" / "guard"
fresh = partial(fresh_in, trash=DATA / "trash")


def engine_run(source: Path, destination: Path, *, count: bool) -> tuple[float, int]:
    """rsync through backupplan's executor and parser; return (seconds, changes counted)."""
    from backupplan.process.execute import run_process

    engine = get_engine("rsync")
    spec = TransferSpec(
        source=f"{source}/", destination=str(destination), delete=True, exclude=(".complete",), itemize=count
    )
    changes = Changes() if count else None
    parser = engine.parser(changes=changes)
    start = time.perf_counter()
    result = asyncio.run(
        run_process(
            engine.argv(spec),
            env=dict(os.environ),
            on_stdout=lambda record: parser.feed(record, "stdout"),
            on_stderr=lambda record: parser.feed(record, "stderr"),
        )
    )
    elapsed = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(f"rsync failed: exit {result.exit_code}")
    return elapsed, changes.total if changes is not None else 0


def write_plan(folder: Path, source: Path, destination: Path, guard: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "backups.yaml"
    plan.write_text(
        "version: 1\nsettings:\n  timezone: UTC\n  state_dir: state\n  site_dir: site\njobs:\n"
        f"  bench:\n    engine: rsync\n    source: {source}\n    destination: {destination}\n"
        f'    delete: true\n    exclude: [".complete"]\n    guard: {guard}\n'
    )
    return plan


def mutated(source: Path, round_number: int) -> Path:
    """A copy of the tree after a day of changes (make_tree.py mutate)."""
    target = DATA / f"src-day-{round_number}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(["cp", "-a", str(source), str(target)], check=True)
        mutate = [sys.executable, str(MAKE_TREE), "mutate", str(target), "--round", str(round_number + 1)]
        subprocess.run(mutate, check=True, capture_output=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    source = prepare_tree(args.preset)
    results: dict[str, list[float]] = {}

    def note(name: str, seconds: float) -> None:
        results.setdefault(name, []).append(seconds)

    for number in range(args.rounds):
        for count in [False, True] if number % 2 == 0 else [True, False]:
            label = "counted" if count else "not counted"
            target = fresh(DATA / f"count-{label}")
            target.mkdir(parents=True)
            full, _ = engine_run(source, target, count=count)
            again, _ = engine_run(source, target, count=count)
            note(f"rsync full copy, changes {label}", full)
            note(f"rsync no-change, changes {label}", again)
        day = mutated(source, number)
        for who in ["raw", "guarded", "guard off"] if number % 2 == 0 else ["guard off", "guarded", "raw"]:
            target = fresh(DATA / f"mirror-{who}")
            target.mkdir(parents=True)
            if who == "raw":
                argv = ["rsync", "-a", "--delete", "--exclude=.complete", f"{source}/", str(target)]
                timed(argv)
                note("mirror no-change, raw rsync", timed(argv))
                note("mirror a day of changes, raw rsync", timed([*argv[:-2], f"{day}/", str(target)]))
                continue
            home = fresh(DATA / f"plan-{who}")
            plan = write_plan(home, source, target, "{}" if who == "guarded" else "off")
            timed([BACKUPPLAN, "run", "--plan", str(plan), "bench"])
            note(
                f"mirror no-change, backupplan ({who})",
                timed([BACKUPPLAN, "run", "--plan", str(plan), "bench"]),
            )
            plan = write_plan(home, day, target, "{}" if who == "guarded" else "off")
            note(f"mirror a day of changes, backupplan ({who})",
                 timed([BACKUPPLAN, "run", "--plan", str(plan), "bench"]))  # fmt: skip
        print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)
    shutil.rmtree(DATA / "trash", ignore_errors=True)

    files = sum(1 for path in source.rglob("*") if path.is_file()) - 1
    print(f"\ntree: {args.preset} ({files} files), {args.rounds} rounds, medians in seconds (min-max)")
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"  {name:48} {medians[name]:7.3f}  ({min(values):.3f}-{max(values):.3f})")
    full = medians["rsync full copy, changes counted"] / medians["rsync full copy, changes not counted"]
    same = medians["rsync no-change, changes counted"] - medians["rsync no-change, changes not counted"]
    print(f"counting: full copy {(full - 1) * 100:+.1f} % (target <= 3 %); no-change {same * 1000:+.0f} ms "
          "(target <= 20 ms)")  # fmt: skip
    guarded = medians["mirror no-change, backupplan (guarded)"] - medians["mirror no-change, raw rsync"]
    print(f"guard on, no-change run: raw rsync + {guarded * 1000:.0f} ms (target <= +150 ms)")
    day_raw = medians["mirror a day of changes, raw rsync"]
    for who in ("guarded", "guard off"):
        ratio = medians[f"mirror a day of changes, backupplan ({who})"] / day_raw
        print(f"a day of changes, backupplan ({who}): {ratio:.2f}x raw rsync")


if __name__ == "__main__":
    main()
