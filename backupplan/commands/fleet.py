"""`backupplan fleet build | status | check`: every host's published status, read from where the
hosts publish (`settings.publish.to`, or --from), as a site, a table, or a monitoring plugin."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from backupplan.errors import BackupplanError

if TYPE_CHECKING:
    from backupplan.fleet.hosts import Host


def _source(source: str | None, plan_path: str) -> tuple[str, Path, dict[str, str]]:
    """Where to read from, the folder relative paths resolve against, and rclone's environment:
    --from as given (credentials from this process's environment), else the plan's publish
    target and env."""
    if source is not None:
        return source, Path.cwd(), {}
    from backupplan.plan.load import load_plan

    loaded = load_plan(plan_path)
    publish = loaded.plan.settings.publish
    if publish is None:
        raise BackupplanError(
            f"{loaded.display_path} has no settings.publish: say where the hosts publish with "
            "--from REMOTE_OR_FOLDER"
        )
    return publish.to, loaded.base_dir, dict(publish.env)


def build_command(
    source: str | None, plan_path: str, site: str, link: str | None, every: float, now: datetime | None = None
) -> int:
    """Write the fleet site; exit 0 when every host is heard from and readable, else 1."""
    from backupplan.fleet.build import build_fleet

    where, base, env = _source(source, plan_path)
    report = build_fleet(
        where, Path(site).absolute(), base_dir=base, env=env, now=now, link_base=link, every=every
    )
    parts = [f"{report.hosts} host{'s' if report.hosts != 1 else ''}"]
    parts += [f"{report.silent} silent"] if report.silent else []
    parts += [f"{report.damaged} unreadable"] if report.damaged else []
    parts += [f"{report.failing} failed or held jobs"] if report.failing else []
    click.echo(f"fleet site written to {report.site_dir}/index.html ({', '.join(parts)})")
    return 1 if report.silent or report.damaged else 0


def _hosts(source: str | None, plan_path: str, now: datetime) -> tuple[list[Host], dict[str, Any]]:
    from backupplan.fleet.build import fleet_document, gather
    from backupplan.fleet.collect import collect

    where, base, env = _source(source, plan_path)
    with collect(where, base, env) as collected:
        hosts = gather(collected, now, None, None)
        return hosts, fleet_document(hosts, now, collected.shown, 0.0)


def status_command(source: str | None, plan_path: str, *, as_json: bool, now: datetime | None = None) -> int:
    """Print one line per host, worst first (or the fleet document); exit 1 when a host is silent
    or unreadable."""
    import orjson

    from backupplan.commands.status import table
    from backupplan.monitor.verdict import one_line
    from backupplan.units import format_size

    moment = now or datetime.now(UTC)
    hosts, document = _hosts(source, plan_path, moment)
    if as_json:
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        rows = [
            [
                host.name,
                "DAMAGED" if host.damaged else "SILENT" if host.silent else host.state.name,
                host.last_seen or "-",
                "-" if host.damaged else f"{host.jobs} ({_failed(host)} failed, {host.overdue} overdue)",
                format_size(host.bytes),
                one_line(host.summary, 100),
            ]
            for host in hosts
        ]
        for line in table(["HOST", "STATE", "LAST SEEN", "JOBS", "BYTES", "SUMMARY"], rows):
            click.echo(line)
        summary = document["summary"]
        click.echo(
            f"{summary['hosts']} hosts: {summary['silent']} silent, {summary['damaged']} unreadable, "
            f"{summary['failed']} failed or held jobs, {summary['overdue']} overdue."
        )
    summary = document["summary"]
    return 1 if summary["silent"] or summary["damaged"] else 0


def _failed(host: Host) -> int:
    return host.counts.get("failed", 0) + host.counts.get("held", 0)


def check_command(source: str | None, plan_path: str, *, now: datetime | None = None) -> int:
    """The fleet as a monitoring plugin: one line, performance data, exit 0/1/2/3."""
    from backupplan.fleet.check import fleet_verdict

    moment = now or datetime.now(UTC)
    try:
        hosts, _ = _hosts(source, plan_path, moment)
    except BackupplanError as error:
        from backupplan.monitor.verdict import unknown

        verdict = unknown(str(error))
    else:
        verdict = fleet_verdict(hosts)
    for line in verdict.lines():
        click.echo(line)
    return verdict.exit_code
