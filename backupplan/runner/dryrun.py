"""`--dry-run`: the exact command a run would start, and what it would change; nothing is written.

For a snapshot job, what would change is measured against its latest snapshot (on the server, for
a destination reached over ssh, listed with one ssh command). What would change comes from the
engine's itemizing comparison (rsync `--dry-run --itemize-changes`, `rclone check`), which reads
both sides and writes nothing: no journal record, no log, no lock, no file at the destination.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from backupplan.engines import Difference, TransferSpec, get_engine
from backupplan.errors import BackupplanError
from backupplan.plan.model import Job
from backupplan.runner.transfer import transfer_spec
from backupplan.secrets import mask

LABELS = {"missing": "+ new", "changed": "~ changed", "extra": "- delete", "metadata": "~ attributes",
          "error": "! error"}  # fmt: skip


@dataclass
class DryRun:
    job: str
    argv: str
    differences: list[Difference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def lines(self, limit: int = 50) -> list[str]:
        """What `run --dry-run` prints for this job."""
        out = [f"{self.job}: would run", f"  {self.argv}"]
        changes = self.differences
        if changes:
            out.append(f"  would change {len(changes)} item{'s' if len(changes) != 1 else ''}:")
            out += [f"    {LABELS.get(item.kind, item.kind)}  {mask(item.path)}" for item in changes[:limit]]
            if len(changes) > limit:
                out.append(f"    … and {len(changes) - limit} more")
        elif not self.errors:
            out.append("  nothing would change")
        out += [f"  ! {mask(error)}" for error in self.errors[:10]]
        return out


async def dry_run(job_id: str, job: Job, base_dir: Path) -> DryRun:
    """Given a job, return its argv (masked) and the changes its transfer would make."""
    from backupplan.process.execute import run_process

    engine = get_engine(job.engine)
    spec = compared = transfer_spec(job, base_dir)
    failed = None
    if job.snapshots is not None and job.engine == "rsync":
        try:
            spec, compared = await _snapshot_specs(spec)
        except BackupplanError as error:
            failed = str(error)
    result = DryRun(job_id, mask(" ".join(_quote(part) for part in engine.argv(spec))))
    if failed is not None:
        result.errors.append(failed)
        return result
    parser = engine.verify_parser()
    try:
        await run_process(
            engine.verify_argv(compared, "quick"),
            env=engine.environment(spec, os.environ),
            on_stdout=lambda record: parser.feed(record, "stdout"),
            on_stderr=lambda record: parser.feed(record, "stderr"),
            timeout=job.timeout,
        )
    except BackupplanError as error:
        result.errors.append(str(error))
        return result
    result.differences = parser.differences()
    result.errors = [error for error in parser.errors() if "directory not found" not in error.lower()]
    return result


async def _snapshot_specs(spec: TransferSpec) -> tuple[TransferSpec, TransferSpec]:
    """A snapshot job's transfer goes into a new `.partial` folder: a clone of the latest snapshot
    (local), or linked to it with `--link-dest=../<latest>` (on a server, listed over ssh). Return
    that transfer, and the comparison with the latest snapshot (or, for the first one, with the
    folder still to be made: everything is new)."""
    from backupplan.snapshots import next_id, snapshot_spec
    from backupplan.snapshots.place import listing_of
    from backupplan.snapshots.server import remote_of

    listing = await listing_of(spec)
    upcoming = f"{next_id(datetime.now(UTC), (*listing.complete, *listing.partial))}.partial"
    newest = listing.newest
    remote = remote_of(spec)
    if remote is None:
        folder = listing.path(newest) if newest else listing.destination / upcoming
        compared = snapshot_spec(spec, folder, None)
        return snapshot_spec(spec, listing.destination / upcoming, None), compared
    compared = snapshot_spec(spec, remote.operand(newest or upcoming), None)
    return snapshot_spec(spec, remote.operand(upcoming), f"../{newest}" if newest else None), compared


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)
