"""`backupplan verify JOB [--checksum]`: compare a job's copy with its source, now."""

from __future__ import annotations

import asyncio

import click

from backupplan.engines.base import VerifyMode

SHOWN = 100  # differences printed; the count says how many more


def verify_command(plan_path: str, job_id: str, *, checksum: bool, metadata: bool = False) -> int:
    """Verify the job's copy (its latest snapshot for snapshot jobs) against its source; journal
    the result; exit 0 when nothing differs in contents (nor, with `metadata`, in attributes),
    1 otherwise."""
    from backupplan.commands.run import check_job_ids, open_journal
    from backupplan.journal import JobLock
    from backupplan.plan.load import load_plan
    from backupplan.runner.transfer import transfer_spec
    from backupplan.runner.verify import verify_copy
    from backupplan.status.sitefeed import SiteFeed

    loaded = load_plan(plan_path)
    check_job_ids(loaded, [job_id])
    job = loaded.jobs[job_id]
    mode: VerifyMode = "checksum" if checksum or job.verify == "checksum" else "quick"
    spec = transfer_spec(job, loaded.base_dir)
    what = spec.destination
    with JobLock(loaded.state_dir, job_id):
        if job.snapshots is not None and job.engine == "rsync":
            from backupplan.snapshots import snapshot_spec
            from backupplan.snapshots.place import read_snapshots
            from backupplan.snapshots.server import remote_of

            listing = read_snapshots(spec)
            snapshot = listing.resolve(None)
            remote = remote_of(spec)
            spec = snapshot_spec(spec, remote.operand(snapshot) if remote else listing.path(snapshot), None)
            what = f"snapshot {snapshot} ({spec.destination})"
        click.echo(f"Verifying ({mode}) {what} against {spec.source} …")
        report = asyncio.run(verify_copy(job.engine, spec, mode, timeout=job.timeout, metadata=metadata))
        if report.stopped:
            click.echo(report.outcome.message)
            return 1
        journal = open_journal(loaded)
        try:
            journal.append("verify.finished", job=job_id, data=report.record())
            site_feed = SiteFeed(
                loaded, journal, on_error=lambda text: click.echo(f"warning: {text}", err=True)
            )
            site_feed.event([job_id])
            site_feed.close()
        finally:
            journal.close()
    for line in report.lines(SHOWN):
        click.echo(f"  {line}")
    click.echo(report.summary())
    return 0 if report.ok else 1
