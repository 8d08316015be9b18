"""What faithful copies cost: `backupplan run` with its default `preserve:` (rsync -H -A -X -S)
against raw `rsync -aHAXS`, and raw `-aHAXS` against raw `-a`, on the same tree in one run.

Run: .venv/bin/python bench/fidelity.py [--preset medium] [--rounds 3]

Prints medians of a full copy into an empty folder and a no-change rerun, the ratios (targets:
backupplan <= 1.03x raw -aHAXS on the full copy, <= raw + 150 ms on the no-change run), and the
disk usage of two snapshots of the tree (du counts shared blocks once) with the faithful options,
to show that hard-link tracking does not change what a snapshot costs on disk.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from runner import BACKUPPLAN, prepare_tree, timed  # noqa: E402
from runner import fresh as fresh_in  # noqa: E402

DATA = HERE / "data" / "fidelity"
fresh = partial(fresh_in, trash=DATA / "trash")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    source = prepare_tree(args.preset)
    results: dict[str, list[float]] = {}
    contenders = ["rsync -a", "rsync -aHAXS", "backupplan"]
    for number in range(args.rounds):
        order = contenders if number % 2 == 0 else contenders[::-1]
        for who in order:
            target = fresh(DATA / f"dst-{who.replace(' ', '')}")
            target.mkdir(parents=True)
            if who == "backupplan":
                home = fresh(DATA / "plan")
                home.mkdir(parents=True)
                plan = home / "backups.yaml"
                plan.write_text(
                    "version: 1\nsettings: {timezone: UTC, state_dir: state, site_dir: site}\njobs:\n"
                    f"  bench: {{engine: rsync, source: '{source}', destination: '{target}', "
                    "exclude: ['.complete']}\n"
                )
                argv = [BACKUPPLAN, "run", "--plan", str(plan), "bench"]
            else:
                argv = [*who.split(), "--exclude=.complete", f"{source}/", str(target)]
            results.setdefault(f"{who} full", []).append(timed(argv))
            results.setdefault(f"{who} no-change", []).append(timed(argv))
        print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)

    snapshots = fresh(DATA / "snapshots")
    snapshots.mkdir(parents=True)
    first = snapshots / "one"
    subprocess.run(["rsync", "-aHAXS", f"{source}/", str(first)], check=True)
    subprocess.run(
        ["rsync", "-aHAXS", f"--link-dest={first}", f"{source}/", str(snapshots / "two")], check=True
    )
    usage = subprocess.run(["du", "-sb", str(snapshots)], capture_output=True, text=True, check=True)
    single = subprocess.run(["du", "-sb", str(first)], capture_output=True, text=True, check=True)

    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"\ntree: {args.preset}, {args.rounds} rounds, medians in seconds (min-max)")
    for name, values in results.items():
        print(f"  {name:26} {medians[name]:7.3f}  ({min(values):.3f}-{max(values):.3f})")
    full = medians["backupplan full"] / medians["rsync -aHAXS full"]
    same = (medians["backupplan no-change"] - medians["rsync -aHAXS no-change"]) * 1000
    print(f"backupplan full copy {full:.2f}x raw -aHAXS (target <= 1.03x); no-change raw -aHAXS + "
          f"{same:.0f} ms (target <= +150 ms)")  # fmt: skip
    tracking = medians["rsync -aHAXS full"] / medians["rsync -a full"]
    unchanged = medians["rsync -aHAXS no-change"] / medians["rsync -a no-change"]
    print(f"raw -aHAXS against raw -a: full copy {tracking:.2f}x, no-change {unchanged:.2f}x")
    print(
        f"two snapshots with -aHAXS and --link-dest: {int(usage.stdout.split()[0]):,} bytes on disk; "
        f"one alone {int(single.stdout.split()[0]):,} (an unchanged second snapshot costs only its folders)"
    )


if __name__ == "__main__":
    main()
