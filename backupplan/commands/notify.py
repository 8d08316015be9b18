"""`backupplan notify test [JOB]`: send a test message to each target, one try each, and say how
each went.

Pings are not faked: a test success could hide a real outage and a test failure would raise an
alarm. A healthchecks ping URL gets a `/log` ping instead, which healthchecks records without
changing the check's status; Uptime Kuma and Cronitor have no such signal, so their URLs are only
listed (they are pinged at the job's next run).
"""

from __future__ import annotations

import click

from backupplan.errors import BackupplanError
from backupplan.notify.message import render_test
from backupplan.notify.ping import PingError, build_ping, flavour, send_ping
from backupplan.notify.send import DeliveryError, deliver, plan_targets
from backupplan.plan.load import load_plan
from backupplan.plan.messages import suggest
from backupplan.secrets import mask

_FLAVOUR_NAMES = {"healthchecks": "healthchecks", "uptime_kuma": "Uptime Kuma", "cronitor": "Cronitor"}


def notify_test_command(plan_path: str, job: str | None) -> int:
    """Load the plan; test every target of `job` (settings + job) or of the whole plan; print one
    line per target; return 0 when every message was delivered, 1 otherwise."""
    loaded = load_plan(plan_path)
    plan = loaded.plan
    if job is not None and job not in plan.jobs:
        hint = suggest(job, plan.jobs, label="jobs") or "jobs: none"
        raise BackupplanError(f"{loaded.display_path} has no job {job!r} ({hint})")
    targets = plan_targets(plan, job)
    pings = [
        (job_id, entry.ping)
        for job_id, entry in plan.jobs.items()
        if entry.ping and (job is None or job_id == job)
    ]
    scope = f"job {job}" if job else loaded.display_path
    if not targets and not pings:
        click.echo(
            f"{scope}: no notification targets and no ping URL to test "
            "(add `notify:` under settings or a job, or `ping:` to a job; see docs/notifications.md)",
            err=True,
        )
        return 1

    host = loaded.host
    failed = 0
    for target in targets:
        message = render_test(host=host, events=target.on, job=job, plan=loaded.display_path)
        events = ", ".join(target.on) or "no events"
        try:
            deliver(target.url, message)
        except DeliveryError as error:
            failed += 1
            click.echo(mask(f"failed   {target.label} ({events}): {error}"))
        else:
            click.echo(mask(f"ok       {target.label} ({events})"))

    for job_id, url in pings:
        label = f"ping {mask(url)} (job {job_id})"
        request = build_ping(url, "log", body=f"backupplan test from {host}: this changes no status")
        if request is None:
            kind = _FLAVOUR_NAMES[flavour(url)]
            click.echo(
                f"skipped  {label}: {kind} has no test signal that leaves a monitor's status alone; "
                "it is pinged at the job's next run"
            )
            continue
        try:
            send_ping(request)
        except PingError as error:
            failed += 1
            click.echo(mask(f"failed   {label}: {error}"))
        else:
            click.echo(f"ok       {label}: logged, the check's status is unchanged")

    tried = len(targets) + sum(1 for _, url in pings if flavour(url) == "healthchecks")
    if failed:
        click.echo(f"{failed} of {tried} could not be reached; fix them and run this again.", err=True)
        return 1
    click.echo(f"all {tried} reached.")
    return 0
