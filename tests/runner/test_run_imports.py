"""What `backupplan run` of a plain job loads (docs/performance.md, "What a run loads"): the
capabilities such a job does not use (dumps, snapshots, verification, "did you mean") are imported
where they are used, so that a run with nothing to copy pays only for what it does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import backupplan_env
from tests.runner.helpers import write_plan

# Imported only by the steps that use them; a plain mirror (no dumps, snapshots, verify, hooks,
# notifications or publishing) that names a job of the plan reaches none of them.
NOT_LOADED = (
    "backupplan.dumps",  # runner.jobrun: a job with `dumps:`
    "backupplan.snapshots",  # runner.jobrun and runner.aftercare: a job with `snapshots:` or `versions:`
    "backupplan.runner.verify",  # runner.aftercare: `verify: quick | checksum`
    "backupplan.runner.fidelity",  # runner.jobrun: the first run into a local folder
    "backupplan.plan.messages",  # commands.run: a job name that is not in the plan
    "difflib",
    "backupplan.notify",  # commands.run: notify, heartbeat or ping in the plan
    "backupplan.plan.build",  # plan.load: the plan is not the one kept (docs/performance.md)
    "ruamel.yaml",
)
# What the run does use: the probe sees the modules of a real run.
LOADED = ("backupplan.runner.jobrun", "backupplan.engines.rsync", "backupplan.site.build")

PROBE = """\
import atexit, sys
from backupplan.cli import main
names = sys.argv[2:]
atexit.register(lambda: print("loaded:", *(name for name in names if name in sys.modules)))
main(["run", "--plan", sys.argv[1], "docs"])
"""


def loaded_by_a_run(plan: Path) -> list[str]:
    """Run `backupplan run docs` in a new process; return which of the modules above it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(plan), *NOT_LOADED, *LOADED],
        capture_output=True,
        text=True,
        env=backupplan_env(),
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("loaded:")]
    return line.split()[1:]


def test_a_plain_run_loads_only_what_it_uses(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for number in range(20):
        (source / f"file{number}").write_text(f"{number}\n")
    plan = write_plan(
        tmp_path,
        f"  docs: {{engine: rsync, source: {source}, destination: {tmp_path / 'copy'}, "
        'schedule: "@daily"}\n',
    )
    first = loaded_by_a_run(plan)  # copies everything and keeps the plan
    assert (tmp_path / "copy" / "file19").read_text() == "19\n"
    again = loaded_by_a_run(plan)  # nothing to copy, the plan read back from the cache
    assert "backupplan.plan.build" in first  # parsed and validated (which uses plan.messages)
    assert again == list(LOADED)
