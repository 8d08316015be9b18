"""rsync over ssh: `backupplan run` against raw `rsync -e ssh` to the same OpenSSH server on
127.0.0.1 (started by the bench, as the tests start it: tests/sshd.py), medium tree, one run.

Run: .venv/bin/python bench/remote.py [--preset medium] [--rounds 3]

Prints medians of a full copy into an empty folder and a no-change rerun, the full-copy ratio
(target <= 1.03x) and the no-change overhead (target <= raw + 150 ms). Both sides use the same
ssh options (the job's defaults: BatchMode, keepalives, a key of its own) and the same rsync
options backupplan passes (its guard's dry run included for the no-change run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from runner import BACKUPPLAN, prepare_tree, timed  # noqa: E402
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
    args = parser.parse_args()
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
                    home = fresh(DATA / "plan")
                    home.mkdir(parents=True)
                    plan = home / "backups.yaml"
                    plan.write_text(
                        "version: 1\nsettings: {timezone: UTC, state_dir: state, site_dir: site}\njobs:\n"
                        f"  bench:\n    engine: rsync\n    source: '{source}'\n"
                        f"    destination: '{server.destination}:{target}'\n    exclude: ['.complete']\n"
                        f"    ssh:\n      port: {server.port}\n      identity_file: '{server.identity}'\n"
                        f"      known_hosts: '{server.known_hosts}'\n"
                        "      options: [GlobalKnownHostsFile=/dev/null]\n"
                    )
                    argv = [BACKUPPLAN, "run", "--plan", str(plan), "bench"]
                results.setdefault(f"{who} full", []).append(timed(argv))
                results.setdefault(f"{who} no-change", []).append(timed(argv))
            print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        server.kill()
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"\ntree: {args.preset}, over ssh to 127.0.0.1, {args.rounds} rounds, medians in seconds (min-max)")
    for name, values in results.items():
        print(f"  {name:22} {medians[name]:7.3f}  ({min(values):.3f}-{max(values):.3f})")
    full = medians["backupplan full"] / medians["raw full"]
    same = (medians["backupplan no-change"] - medians["raw no-change"]) * 1000
    target = "(target <= 1.03x); no-change raw"
    print(f"full copy {full:.2f}x raw rsync -e ssh {target} + {same:.0f} ms (target <= +150 ms)")


if __name__ == "__main__":
    main()
