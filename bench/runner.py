"""`backupplan run` against the raw engine on the same tree, side by side in one run.

Run: .venv/bin/python bench/runner.py [--preset medium] [--rounds 3] [--engines rsync,rclone]

For each engine and round (order rotated every round): a full copy into an empty folder and a
no-change rerun, once through `backupplan run` (journal, log, site and all) and once with the raw
command with the options a job uses by default (`rsync -aHAXS src/ dst/`, `rclone copy --metadata
src dst`: docs/fidelity.md). Prints medians and, per engine, the full-copy
ratio (target <= 1.03x) and the no-change overhead in ms (target <= raw + 150 ms).

Before timing, backupplan's bytecode is written (`compileall`), as installing it does: with
PYTHONDONTWRITEBYTECODE=1 in the environment, a checkout edited since its last run would compile
the changed modules again at every start (~70 ms on the 2-core VM), which no installed copy pays.

The tree comes from make_tree.py (the shared benchmark generator; set MAKE_TREE to its path) and
lives in bench/data/runner/ (git-ignored). Old copies are moved aside, never deleted between
timings: deleting first slows the next copy on this VM (see the shared BASELINE.md, "Noise").
Each timing starts with nothing waiting to be written (an untimed `sync` before it): otherwise the
kernel's writeback of the last 300 MB copy lands in whichever timing comes next.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "runner"
MAKE_TREE = Path(os.environ.get("MAKE_TREE", "/work/shared/bench/make_tree.py"))
BACKUPPLAN = str(Path(sys.executable).parent / "backupplan")


def timed(argv: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, check=False, env=_env())
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    return elapsed


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    env["RCLONE_CONFIG"] = ""
    return env


def compile_package() -> None:
    """Write the bytecode of the backupplan package these runs import (see the module's doc)."""
    package = HERE.parent / "backupplan"
    command = [sys.executable, "-m", "compileall", "-q", str(package)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def prepare_tree(preset: str) -> Path:
    source = DATA / f"src-{preset}"
    if not (source / ".complete").exists():
        if source.exists():
            shutil.rmtree(source)
        command = [sys.executable, str(MAKE_TREE), "generate", str(source), "--preset", preset]
        subprocess.run(command, check=True)
        (source / ".complete").write_text("")
    return source


def installed(command: str, package: str) -> str:
    """The path of `command`, installed from the OS package `package` (apt-get) when missing."""
    found = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin")
    if found is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        print(f"installing {package} (apt-get) ...", flush=True)
        quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        argv = [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=quiet)
        found = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin") or command
    return found


def fresh(path: Path, trash: Path = DATA / "trash") -> Path:
    """Move an old copy aside into `trash` (deleted at the end) and return the now free path."""
    if path.exists():
        trash.mkdir(parents=True, exist_ok=True)
        path.rename(trash / f"{path.name}-{time.monotonic_ns()}")
    return path


def write_plan(folder: Path, engine: str, source: Path, destination: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "backups.yaml"
    plan.write_text(
        "version: 1\nsettings:\n  timezone: UTC\n  state_dir: state\n  site_dir: site\njobs:\n"
        f"  bench:\n    engine: {engine}\n    source: {source}\n    destination: {destination}\n"
        '    exclude: [".complete"]\n'
    )
    return plan


def raw_argv(engine: str, source: Path, destination: Path) -> list[str]:
    if engine == "rsync":
        # what a job keeps by default (docs/fidelity.md): hard links, ACLs, xattrs, sparse files
        return ["rsync", "-aHAXS", "--exclude=.complete", f"{source}/", str(destination)]
    return ["rclone", "copy", "--metadata", "--exclude=.complete", str(source), str(destination)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="rsync,rclone")
    args = parser.parse_args()
    source = prepare_tree(args.preset)
    compile_package()
    results: dict[str, list[float]] = {}
    engines = args.engines.split(",")
    for round_number in range(args.rounds):
        order = ["raw", "backupplan"] if round_number % 2 == 0 else ["backupplan", "raw"]
        for engine in engines:
            for who in order:
                target = fresh(DATA / f"dst-{engine}-{who}")
                os.sync()  # untimed: neither side pays for writing back the other's copy
                if who == "raw":
                    if engine == "rsync":
                        target.mkdir()
                    full = timed(raw_argv(engine, source, target))
                    os.sync()
                    again = timed(raw_argv(engine, source, target))
                else:
                    home = fresh(DATA / f"plan-{engine}")
                    target.mkdir()
                    plan = write_plan(home, engine, source, target)
                    full = timed([BACKUPPLAN, "run", "--plan", str(plan), "bench"])
                    os.sync()
                    again = timed([BACKUPPLAN, "run", "--plan", str(plan), "bench"])
                results.setdefault(f"{engine} {who} full", []).append(full)
                results.setdefault(f"{engine} {who} no-change", []).append(again)
            print(f"round {round_number + 1}/{args.rounds} {engine} done", file=sys.stderr)
    shutil.rmtree(DATA / "trash", ignore_errors=True)

    print(
        f"\ntree: {args.preset} ({sum(1 for _ in source.rglob('*') if _.is_file()) - 1} files), "
        f"{args.rounds} rounds, medians in seconds (min-max)"
    )
    for name, values in results.items():
        print(f"  {name:28} {statistics.median(values):7.3f}  ({min(values):.3f}-{max(values):.3f})")
    for engine in engines:
        raw_full = statistics.median(results[f"{engine} raw full"])
        bp_full = statistics.median(results[f"{engine} backupplan full"])
        raw_same = statistics.median(results[f"{engine} raw no-change"])
        bp_same = statistics.median(results[f"{engine} backupplan no-change"])
        print(
            f"{engine}: full copy {bp_full / raw_full:.2f}x raw (target <= 1.03x); "
            f"no-change raw + {(bp_same - raw_same) * 1000:.0f} ms (target <= +150 ms)"
        )


if __name__ == "__main__":
    main()
