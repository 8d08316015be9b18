"""The text `plan`, `apply` and the daemon show for a reconciliation: the diff in the manner of
`terraform plan`, then which jobs are due and why, with the exact command each would run."""

from __future__ import annotations

import shlex
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from backupplan.journal.records import parse_timestamp
from backupplan.plan.diff import render_diff, summary
from backupplan.secrets import mask

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan
    from backupplan.scheduler.due import Assessment
    from backupplan.scheduler.reconcile import Reconciliation

NAME_WIDTH = 24


def diff_lines(reconciliation: Reconciliation) -> list[str]:
    """The plan's changes since the last apply (or all of it, before the first apply)."""
    loaded = reconciliation.loaded
    applied = reconciliation.applied
    diff = reconciliation.diff
    name = loaded.display_path
    if applied is None:
        lines = [f"{name} has never been applied; applying it records these jobs:", ""]
        return [*lines, *render_diff(diff), "", summary(diff)]
    when = _when(loaded, applied.applied_at)
    if diff.empty:
        if applied.digest != loaded.digest:
            return [f"No changes in {name} since {when} (only secret values differ)."]
        return [f"No changes: {name} is the plan applied at {when}."]
    return [f"Changes in {name} since the plan applied at {when}:", "", *render_diff(diff), "", summary(diff)]


def due_lines(
    reconciliation: Reconciliation, *, commands: bool = True, not_due: Literal["all", "acted"] = "all"
) -> list[str]:
    """Which jobs run now and why (with the exact command when `commands`), then the other jobs
    and why not: all of them, or (`acted`) those whose slots or interrupted runs get journaled."""
    from backupplan.scheduler.reconcile import writes

    loaded = reconciliation.loaded
    due = reconciliation.due
    rest = [item for item in reconciliation.assessments if not item.run]
    if not_due == "acted":
        rest = [item for item in rest if writes(item)]
    ids = [item.job for item in due + rest]
    width = min(NAME_WIDTH, max((len(job) for job in ids), default=0))
    lines: list[str] = []
    if due:
        lines.append(f"Due now ({len(due)} of {len(reconciliation.assessments)} jobs):")
        for item in due:
            lines.append(_line(item, width))
            if commands:
                lines.append(" " * (width + 4) + "$ " + command_line(loaded, item.job, reconciliation.now))
    else:
        lines.append("Nothing is due.")
    if rest:
        lines += ["", "Not due:" if not_due == "all" else "Not run:"]
        lines += [_line(item, width) for item in rest]
    for stray in reconciliation.strays:
        lines.append(f"  {stray.job}: interrupted run {stray.run} dismissed ({stray.message})")
    return lines


def _line(item: Assessment, width: int) -> str:
    reason = item.reason + (" (overdue)" if item.overdue and not item.run else "")
    return mask(f"  {item.job:<{width}}  {reason}")


def command_line(loaded: LoadedPlan, job_id: str, now: datetime) -> str:
    """The engine command a run of the job starts, quoted for a shell, secrets masked. A snapshot
    job's rsync writes into the new snapshot's staging folder, cloned from the newest snapshot
    first (docs/snapshots.md); the comment says so."""
    from backupplan.engines import get_engine
    from backupplan.errors import BackupplanError
    from backupplan.runner.transfer import transfer_spec

    job = loaded.jobs[job_id]
    note = ""
    try:
        spec = transfer_spec(job, loaded.base_dir)
        remote = None
        if job.snapshots is not None and job.engine == "rsync":
            from backupplan.snapshots.server import remote_of

            remote = remote_of(spec)
        if remote is not None:  # not listed here: no ssh command for a plan's report
            from backupplan.snapshots import next_id, snapshot_spec

            snapshot = next_id(now, ())
            spec = snapshot_spec(spec, remote.operand(f"{snapshot}.partial"), "../NEWEST")
            note = (
                f"  # snapshot {snapshot} or later, NEWEST: the newest snapshot on {remote.host} at the run"
            )
        elif job.snapshots is not None and job.engine == "rsync":
            from backupplan.snapshots import next_id, read_listing, snapshot_spec

            listing = read_listing(Path(spec.destination))
            snapshot = next_id(now, (*listing.complete, *listing.partial))
            spec = snapshot_spec(spec, listing.partial_path(snapshot), None)
            base = listing.newest
            note = f"  # snapshot {snapshot}, " + (
                f"cloned from {base} first" if base else "the first: a full copy"
            )
        argv = get_engine(job.engine).argv(spec)
    except BackupplanError as error:
        return mask(f"(cannot be built: {error})")
    return mask(" ".join(shlex.quote(part) for part in argv) + note)


def _when(loaded: LoadedPlan, timestamp: str) -> str:
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        return timestamp or "an unknown time"
    return moment.astimezone(loaded.timezone).strftime("%Y-%m-%d %H:%M %Z")
