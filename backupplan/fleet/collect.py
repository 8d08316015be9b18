"""Where the fleet's statuses are read from: a local or NFS folder as it is, or any rclone remote,
listed and copied (only each host's status.json) into a private temporary folder first."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from backupplan.errors import BackupplanError
from backupplan.plan.locations import parse_location
from backupplan.secrets import mask

RCLONE_TIMEOUT = 300.0  # seconds a listing or a copy of every host's status may take
RCLONE_FLAGS = ("--retries=2", "--low-level-retries=3", "--contimeout=15s", "--timeout=60s")


@dataclass(frozen=True)
class Collected:
    """The folder holding `HOST/status.json` for every host, and the hosts that published their
    whole site there (`HOST/index.html`)."""

    root: Path
    sites: frozenset[str]
    shown: str  # the source, secrets masked
    local: bool


@contextlib.contextmanager
def collect(source: str, base_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[Collected]:
    """Given where the hosts publish (`settings.publish.to`), the plan's folder and rclone's
    environment, yield the Collected statuses; a temporary copy is removed afterwards. Raise
    BackupplanError when the source cannot be read."""
    location = parse_location(source, "rclone", base_dir)
    if location.is_local:
        root = Path(location.path)
        if not root.is_dir():
            raise BackupplanError(
                f"{root} is not a folder: nothing was published there yet, or it is not mounted"
            )
        sites = frozenset(name for name in os.listdir(root) if (root / name / "index.html").is_file())
        yield Collected(root, sites, str(root), True)
        return
    environment = {**os.environ, **(env or {})}
    environment.pop("AWS_CA_BUNDLE", None)  # rclone's S3 backend fails every request with it set
    listing = _rclone(["lsf", "-R", "--files-only", "--max-depth=2", source], environment, source)
    files = {line.strip() for line in listing.splitlines()}
    sites = frozenset(
        line.split("/")[0] for line in files if line.count("/") == 1 and line.endswith("/index.html")
    )
    with tempfile.TemporaryDirectory(prefix="backupplan-fleet-") as folder:
        _rclone(["copy", "--include=/*/status.json", source, folder], environment, source)
        yield Collected(Path(folder), sites, mask(source), False)


def _rclone(arguments: list[str], environment: dict[str, str], source: str) -> str:
    from backupplan.engines.rclone import last_complaint
    from backupplan.process.execute import run_short

    result = run_short(
        ["rclone", *arguments[:1], *RCLONE_FLAGS, *arguments[1:]], env=environment, timeout=RCLONE_TIMEOUT
    )
    if result.timed_out:
        raise BackupplanError(mask(f"reading {source} took longer than {RCLONE_TIMEOUT:.0f} s"))
    if result.exit_code != 0:
        reason = last_complaint(result.stderr, result.exit_code)
        raise BackupplanError(mask(f"cannot read the hosts' statuses from {source}: {reason}"))
    return result.stdout.decode(errors="replace")
