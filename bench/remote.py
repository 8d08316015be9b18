"""rsync over ssh: `backupplan run` against raw `rsync -e ssh` to the same OpenSSH server on
127.0.0.1 (started by the bench, as the tests start it: tests/sshd.py), medium tree, one run.

Run: .venv/bin/python bench/remote.py [--preset medium] [--rounds 3]

Prints medians of a full copy into an empty folder and a no-change rerun, the full-copy ratio
(target <= 1.03x) and the no-change overhead (target <= raw + 150 ms). Both sides use the same
ssh options (the job's defaults: BatchMode, keepalives, a key of its own) and the same rsync
options backupplan passes (its guard's dry run included for the no-change run).

Then snapshots on the server (docs/remote.md, "Snapshots on the server"): on a working copy of the
tree, after the same small change each round (make_tree.py mutate), `backupplan run` of a job with
`snapshots:` against raw `rsync -a --delete --link-dest=../PREVIOUS -e ssh` into a new folder;
both made a first, untimed, full snapshot in this run. backupplan's run also lists the server's
folder and promotes over ssh (two ssh commands). Prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from runner import BACKUPPLAN, MAKE_TREE, compile_package, prepare_tree, timed  # noqa: E402
from runner import fresh as fresh_in  # noqa: E402

from backupplan.engines.ssh import rsh_value, ssh_argv  # noqa: E402
from tests.sshd import Sshd  # noqa: E402

DATA = HERE / "data" / "remote"
fresh = partial(fresh_in, trash=DATA / "trash")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--snapshot-rounds", type=int, default=5)
    args = parser.parse_args()
    compile_package()  # the bytecode written first, as installing does (bench/runner.py)
    source = prepare_tree(args.preset)
    server = Sshd(DATA / "sshd")
    server.start()
    server.trust_host_key()
    ssh = ssh_argv(port=server.port, identity_file=str(server.identity), known_hosts=str(server.known_hosts),
                   options=["GlobalKnownHostsFile=/dev/null"])  # fmt: skip
    results: dict[str, list[float]] = {}
    try:
        for number in range(args.rounds):
            for who in ["raw", "backupplan"] if number % 2 == 0 else ["backupplan", "raw"]:
                target = fresh(DATA / f"dst-{who}")
                if who == "raw":
                    argv = ["rsync", "-aHAXS", "--numeric-ids", "--protect-args", f"--rsh={rsh_value(ssh)}"]
                    argv += ["--exclude=.complete", f"{source}/", f"{server.destination}:{target}/"]
                else:
                    plan = ssh_plan(server, source, target, DATA / "plan")
                    argv = [BACKUPPLAN, "run", "--plan", str(plan), "bench"]
                results.setdefault(f"{who} full", []).append(timed(argv))
                results.setdefault(f"{who} no-change", []).append(timed(argv))
            print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)
        if args.snapshot_rounds:
            results |= snapshot_rounds(server, ssh, source, args.snapshot_rounds)
    finally:
        server.kill()
        shutil.rmtree(DATA / "trash", ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"\ntree: {args.preset}, over ssh to 127.0.0.1, {args.rounds} rounds, medians in seconds (min-max)")
    for name, values in results.items():
        print(f"  {name:22} {medians[name]:7.3f}  ({min(values):.3f}-{max(values):.3f})")
    full = medians["backupplan full"] / medians["raw full"]
    same = (medians["backupplan no-change"] - medians["raw no-change"]) * 1000
    target = "(target <= 1.03x); no-change raw"
    print(f"full copy {full:.2f}x raw rsync -e ssh {target} + {same:.0f} ms (target <= +150 ms)")
    if args.snapshot_rounds:
        ratio = medians["backupplan snapshot"] / medians["raw snapshot"]
        extra = (medians["backupplan snapshot"] - medians["raw snapshot"]) * 1000
        print(f"snapshot after a small change {ratio:.2f}x raw rsync --link-dest -e ssh (+ {extra:.0f} ms)")


def ssh_plan(server: Sshd, source: Path, target: Path, home: Path, extra: str = "") -> Path:
    """A plan in `home` whose job `bench` copies `source` to `target` on the server over ssh."""
    home = fresh(home)
    home.mkdir(parents=True)
    plan = home / "backups.yaml"
    plan.write_text(
        "version: 1\nsettings: {timezone: UTC, state_dir: state, site_dir: site}\njobs:\n"
        f"  bench:\n    engine: rsync\n    source: '{source}'\n"
        f"    destination: '{server.destination}:{target}'\n    exclude: ['.complete']\n{extra}"
        f"    ssh:\n      port: {server.port}\n      identity_file: '{server.identity}'\n"
        f"      known_hosts: '{server.known_hosts}'\n"
        "      options: [GlobalKnownHostsFile=/dev/null]\n"
    )
    return plan


def snapshot_rounds(server: Sshd, ssh: tuple[str, ...], tree: Path, rounds: int) -> dict[str, list[float]]:
    """A first snapshot each, untimed; then per round the same small change, and a new snapshot
    by each (alternating who goes first)."""
    working = fresh(DATA / "working")
    subprocess.run(["cp", "-a", str(tree), str(working)], check=True)
    ours, raw = fresh(DATA / "snap-backupplan"), fresh(DATA / "snap-raw")
    raw.mkdir(parents=True)
    plan = ssh_plan(server, working, ours, DATA / "plan-snapshots", "    snapshots: {}\n")
    run = [BACKUPPLAN, "run", "--plan", str(plan), "bench"]
    rsync = ["rsync", "-aHAXS", "--numeric-ids", "--delete", "--protect-args", f"--rsh={rsh_value(ssh)}"]
    rsync += ["--exclude=.complete", f"{working}/"]
    timed(run)
    timed([*rsync, f"{server.destination}:{raw}/0/"])
    results: dict[str, list[float]] = {}
    for number in range(1, rounds + 1):
        change = ["mutate", str(working), "--round", str(number), "--modify-pct", "0.1", "--add-pct", "0.05"]
        subprocess.run([sys.executable, str(MAKE_TREE), *change, "--delete-pct", "0.05"], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        linked = [
            *rsync[:-1],
            f"--link-dest=../{number - 1}",
            rsync[-1],
            f"{server.destination}:{raw}/{number}/",
        ]
        for who in ["raw", "backupplan"] if number % 2 else ["backupplan", "raw"]:
            results.setdefault(f"{who} snapshot", []).append(timed(linked if who == "raw" else run))
        print(f"snapshot round {number}/{rounds} done", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
