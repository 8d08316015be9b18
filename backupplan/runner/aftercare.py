"""What follows a successful transfer, in this order: promote the snapshot, verify, prune.

1. **Promote** (snapshot jobs): the `.partial` folder becomes `<id>`, `latest` points at it, and
   `snapshot.created` is journaled. A snapshot that shares no unchanged file with the previous one
   (a silent full copy) makes the run a warning.
2. **Verify** (`verify: quick | checksum`): the copy (the new snapshot, or the mirror) against the
   source; `verify.finished` is journaled; differences in contents fail the run.
3. **Prune** (snapshot jobs with `keep:`), only when the run is still a success: a new snapshot
   is complete and verified, so the newest is never lost. `snapshot.pruned` is journaled before
   anything is deleted.
4. **Prune versions** (rclone jobs with `versions: {keep: …}`), only when the run is still a
   success and replaced or deleted something: the version folders the policy does not keep are
   purged, then `versions.pruned` is journaled. A failure there is a warning on the run, never a
   failed backup.

Each step imports what it uses (snapshots, runner.verify, snapshots.versions) when it runs: a
plain mirror that verifies nothing loads none of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from backupplan.engines import Outcome, TransferSpec, TransferStats
from backupplan.errors import BackupplanError
from backupplan.secrets import mask

if TYPE_CHECKING:
    from backupplan.engines.base import VerifyMode
    from backupplan.plan.model import Job, Keep
    from backupplan.runner.logfile import RunLog
    from backupplan.runner.verify import VerifyReport
    from backupplan.snapshots import Created, Staging
    from backupplan.snapshots.versions import VersionsPrune


@dataclass
class Aftercare:
    """One run's context for the steps after its transfer."""

    job_id: str
    job: Job
    spec: TransferSpec  # the transfer that ran (into the staging folder for snapshots)
    staging: Staging | None
    timezone: tzinfo
    log: RunLog
    journal: Callable[[str, dict[str, Any]], object]
    note: Callable[[str], None]
    deadline: float  # time.monotonic() value
    stop_grace: float
    cancel: asyncio.Event
    moved: bool = True  # the run replaced or deleted files (so: rclone made a new version folder)

    def say(self, text: str) -> None:
        self.log.line("backupplan", text)

    def remaining(self) -> float:
        return max(0.1, self.deadline - time.monotonic())


@dataclass(frozen=True)
class Finished:
    outcome: Outcome
    snapshot: Created | None = None
    verify: VerifyReport | None = None


def with_warning(outcome: Outcome, message: str, hint: str = "") -> Outcome:
    """Given an ok or warning outcome, return it as a warning that also says `message`."""
    if outcome.kind == "warning":
        return replace(outcome, message=f"{outcome.message}; {message}")
    return Outcome("warning", message, hint, outcome.exit_code, outcome.signal)


async def after_transfer(care: Aftercare, outcome: Outcome, stats: TransferStats) -> Finished:
    """Given a run whose transfer succeeded, promote, verify and prune; return the run's outcome."""
    created = None
    target = care.spec
    if care.staging is not None:
        from backupplan.snapshots import SnapshotError
        from backupplan.snapshots.place import complete

        try:
            created = await complete(care.staging, stats, timeout=care.remaining(), cancel=care.cancel)
        except SnapshotError as error:
            care.say(f"snapshot not promoted: {error}")
            return Finished(Outcome("fatal", str(error), "the next run completes the .partial folder"))
        care.journal("snapshot.created", created.record())
        care.say(f"snapshot {created.id} complete ({created.describe()}): {created.where}")
        if created.problem:
            care.say(f"warning: {created.problem}")
            outcome = with_warning(outcome, created.problem)
        target = replace(care.spec, destination=created.where, link_dest=None)
    report = None
    if care.job.verify != "none":
        report = await _verify(care, target)
        if report.stopped:
            return Finished(report.outcome, created, report)
        if not report.ok:
            failed = Outcome("fatal", report.summary(), "the differences are listed in the run's log")
            return Finished(failed, created, report)
        if report.outcome.kind == "warning" or report.differences:
            outcome = with_warning(outcome, report.summary())
    if care.staging is not None and care.job.snapshots is not None:
        outcome = await _prune(care, care.staging, outcome)
    versions = care.job.versions
    if care.spec.backup_dir is not None and versions is not None and versions.keep and care.moved:
        # A run that moved nothing made no folder: the folders, and so the policy's verdict (which
        # depends on their times only), are those of the last prune; no listing is needed.
        outcome = await _prune_versions(care, versions.keep, care.spec.backup_dir, outcome)
    return Finished(outcome, created, report)


async def _verify(care: Aftercare, target: TransferSpec) -> VerifyReport:
    from backupplan.runner.verify import verify_copy

    mode: VerifyMode = "checksum" if care.job.verify == "checksum" else "quick"
    care.say(f"verifying ({mode}) {target.destination} against {target.source}")
    report = await verify_copy(
        care.job.engine,
        target,
        mode,
        timeout=care.remaining(),
        stop_grace=care.stop_grace,
        cancel=care.cancel,
        on_output=lambda stream, record: care.log.output(care.job.engine, record),
    )
    if report.stopped:
        return report
    care.journal("verify.finished", report.record())
    care.say(report.summary())
    for line in report.lines():
        care.log.line("verify", line)
    care.note(report.summary())
    return report


async def _prune(care: Aftercare, staging: Staging, outcome: Outcome) -> Outcome:
    """Apply the job's `keep:` to its snapshots (locally or on the server); without one, empty the
    trash. A failure is a warning: the new snapshot is good."""
    from backupplan.snapshots import SnapshotError
    from backupplan.snapshots.place import tidy
    from backupplan.snapshots.prune import PruneResult

    assert care.job.snapshots is not None
    keep = care.job.snapshots.keep

    def moved(done: Any) -> None:
        care.journal("snapshot.pruned", done.record())
        care.say(f"pruned {len(done.remove)} snapshot(s): {', '.join(done.remove)}")

    try:
        result = await tidy(staging, keep, care.timezone, on_moved=moved, timeout=care.remaining(),
                            cancel=care.cancel)  # fmt: skip
    except SnapshotError as error:
        result = PruneResult((), 0, str(error))
    if keep is None:
        return with_warning(outcome, result.error) if result.error else outcome
    return _pruned(care, outcome, "pruning", len(result.removed), "snapshot", result.error)


async def _prune_versions(care: Aftercare, keep: Keep, backup_dir: str, outcome: Outcome) -> Outcome:
    """List the version folders beside an rclone copy and purge those `keep` does not retain."""
    from backupplan.snapshots.versions import list_versions, plan_versions_prune, prune_versions, root_of

    root = root_of(backup_dir)
    timeout = care.remaining()
    env = care.job.env

    def removed(done: VersionsPrune) -> None:
        care.journal("versions.pruned", done.record())
        care.say(f"pruned {len(done.remove)} version folder(s) in {done.root}: {', '.join(done.remove)}")

    try:
        versions = await list_versions(root, env, timeout=timeout, cancel=care.cancel)
    except BackupplanError as error:
        return _pruned(care, outcome, "pruning versions", 0, "version folder", str(error))
    plan = plan_versions_prune(root, versions, keep, care.timezone)
    result = await prune_versions(plan, env, on_removed=removed, timeout=timeout, cancel=care.cancel)
    return _pruned(care, outcome, "pruning versions", len(result.removed), "version folder", result.error)


def _pruned(
    care: Aftercare, outcome: Outcome, doing: str, removed: int, noun: str, error: str | None
) -> Outcome:
    """After a prune: note what it removed; an error is a warning of the run (the copy is good)."""
    if removed:
        care.note(f"pruned {removed} old {noun}(s)")
    if error:
        care.say(f"warning: {doing}: {error}")
        return with_warning(outcome, f"{doing}: {mask(error)}")
    return outcome
