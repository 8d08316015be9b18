"""rclone `versions:`: what keeping history costs a no-change run, against the same job without it.

    /work/main/.venv/bin/python bench/versions.py [--preset medium] [--rounds 7] [--changed 20]

Two plans with the same rclone sync job (local folders, the guard on as by default): one plain,
one with `versions: {keep: {daily: 7, weekly: 4}}`. Both make a full copy first (not timed), then
`backupplan run` with nothing to change is timed for each, interleaved round by round in a rotating
order. Prints the medians (min-max) and the ratio versions / plain (target: <= 1.05x).

With --changed N, it also times a run after N files were rewritten (the same N in both copies,
before every round): the versioned run moves the N old files into its folder and prunes (one
`rclone lsjson`, and a purge for folders past the policy); shown for context, with its ratio.

The tree comes from make_tree.py (bench/runner.py's prepare_tree) and lives in bench/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from runner import BACKUPPLAN, prepare_tree, timed  # noqa: E402
from runner import fresh as fresh_in  # noqa: E402

DATA = HERE / "data" / "versions"
fresh = partial(fresh_in, trash=DATA / "trash")


def write_plan(folder: Path, source: Path, destination: Path, versions: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "backups.yaml"
    plan.write_text(
        "version: 1\nsettings:\n  timezone: UTC\n  state_dir: state\n  site_dir: site\njobs:\n"
        f"  bench:\n    engine: rclone\n    source: '{source}'\n    destination: '{destination}'\n"
        "    delete: true\n    exclude: ['.complete']\n"
        + ("    versions: {keep: {daily: 7, weekly: 4}}\n" if versions else "")
    )
    return plan


def rewrite(source: Path, count: int, round_number: int) -> None:
    """Give `count` files of the source new contents (another size: rclone sees them)."""
    files = sorted(path for path in source.rglob("*") if path.is_file() and path.name != ".complete")
    for path in files[:count]:
        path.write_bytes(path.read_bytes()[:64] + f" round {round_number}\n".encode() * (round_number + 1))


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--changed", type=int, default=0, help="also time a run after N files changed")
    args = parser.parse_args()
    tree = prepare_tree(args.preset)
    DATA.mkdir(parents=True, exist_ok=True)
    source = fresh(DATA / "src")
    shutil.copytree(tree, source, symlinks=True)  # its own copy: --changed rewrites files
    plans = {}
    for who in ("plain", "versions"):
        home = fresh(DATA / who)
        plans[who] = write_plan(home, source, home / "copy", who == "versions")
        timed([BACKUPPLAN, "run", "--plan", str(plans[who]), "bench"])  # the full copy, not timed
    results: dict[str, list[float]] = {}
    order = ["plain", "versions"]
    for number in range(args.rounds):
        for who in order if number % 2 == 0 else order[::-1]:
            results.setdefault(f"{who} no-change", []).append(
                timed([BACKUPPLAN, "run", "--plan", str(plans[who]), "bench"])
            )
        if args.changed:
            rewrite(source, args.changed, number)
            time.sleep(1.0)  # version folders are named to the second
            for who in order if number % 2 == 0 else order[::-1]:
                results.setdefault(f"{who} {args.changed} changed", []).append(
                    timed([BACKUPPLAN, "run", "--plan", str(plans[who]), "bench"])
                )
        print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)
    files = sum(1 for path in source.rglob("*") if path.is_file())
    print(f"rclone sync of {files} files ({args.preset}), `backupplan run`, {args.rounds} rounds,")
    print("median (min-max):")
    for name, values in results.items():
        print(f"  {name:<22} {summary(values)}")
    for kind in ["no-change"] + ([f"{args.changed} changed"] if args.changed else []):
        ratio = statistics.median(results[f"versions {kind}"]) / statistics.median(results[f"plain {kind}"])
        target = "  (target <= 1.05x)" if kind == "no-change" else ""
        print(f"versions / plain, {kind}: {ratio:.3f}x{target}")
    shutil.rmtree(DATA / "trash", ignore_errors=True)


if __name__ == "__main__":
    main()
