"""Three hosts simulated on one machine: one shared plan with host selectors, a state dir and a
site per host (`BACKUPPLAN_HOST=a|b|c`), real rsync jobs, publishing through real rclone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import backupplan_env
from tests.trees import build

HOSTS = ("a", "b", "c")


def fleet_plan(root: Path, publish: str, env: dict[str, str] | None = None) -> Path:
    """The shared plan: `docs` on every host, `broken` on b only (its source does not exist, so
    b always has a failed job), each host with its own state dir, site and destination."""
    build(root / "src", {b"a.txt": b"alpha\n", b"sub/b.txt": b"beta\n"})
    (root / "dst").mkdir(exist_ok=True)
    publish_env = f"\n    env: {json.dumps(env)}" if env else ""
    plan = root / "backups.yaml"
    plan.write_text(
        f"""\
version: 1
settings:
  state_dir: state-${{BACKUPPLAN_HOST}}
  site_dir: site-${{BACKUPPLAN_HOST}}
  fleet:
    hosts: [a, b, c]
  publish:
    to: {publish}
    site: true{publish_env}
jobs:
  docs:
    engine: rsync
    source: src
    destination: dst/docs-${{BACKUPPLAN_HOST}}
    schedule: every 1h
  broken:
    engine: rsync
    hosts: [b]
    source: missing-disk
    destination: dst/broken
    schedule: every 1h
"""
    )
    return plan


def as_host(
    host: str, args: list[str], plan: Path, *, offset: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `backupplan ARGS --plan PLAN` as `host`, with the clock moved by `offset` (faketime)."""
    prefix: list[str] = []
    if offset is not None:
        faketime = shutil.which("faketime")
        if faketime is None:
            pytest.fail("faketime is missing: scripts/bootstrap.sh --test installs Debian's faketime")
        prefix = [faketime, "-f", offset]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "backupplan", *args, "--plan", str(plan)],
        cwd=plan.parent,
        env=backupplan_env({"BACKUPPLAN_HOST": host, **(env or {})}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
