"""`backupplan fleet build | status | check`: many machines on one plan, read back from where
they publish (docs/fleet.md)."""

from __future__ import annotations

import click

from backupplan.cli.options import CONTEXT, plan_option
from backupplan.cli.state import MonitoringCommand

FROM_HELP = (
    "Where the hosts publish: an rclone remote (`s3:bucket/status`) or a folder; default: the "
    "plan's settings.publish.to (with its env)."
)


@click.group(context_settings=CONTEXT)
def fleet() -> None:
    """Every host of a fleet plan at once, from the statuses they publish (settings.publish).

    \b
    Examples:
      backupplan fleet build --site /var/www/backups-fleet
      backupplan fleet status --from /srv/nfs/backupplan
      backupplan fleet check            # for Nagios, Icinga, Checkmk, Zabbix
    """


@fleet.command("build", context_settings=CONTEXT)
@plan_option
@click.option("--from", "source", metavar="REMOTE_OR_FOLDER", help=FROM_HELP)
@click.option(
    "--site",
    "site",
    default="fleet-site",
    show_default=True,
    metavar="DIR",
    help="Write the fleet site here.",
)
@click.option(
    "--link",
    metavar="URL",
    help="Where the hosts' own sites are served (`URL/HOST/index.html`); default: relative links "
    "when reading a folder, none for a remote.",
)
@click.option(
    "--every",
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="How often a timer rebuilds the page: older than twice that, the page says it is stale.",
)
def fleet_build(plan_path: str, source: str | None, site: str, link: str | None, every: str) -> int:
    """Write the fleet site: one row per host (silent ones first), the failing and overdue jobs
    across every host, status.json, metrics.prom and feed.xml. Exits 1 when a host is silent or
    its status cannot be read."""
    from backupplan.commands.fleet import build_command
    from backupplan.units import parse_duration

    try:
        seconds = parse_duration(every)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--every") from None
    return build_command(source, plan_path, site, link, seconds)


@fleet.command("status", context_settings=CONTEXT)
@plan_option
@click.option("--from", "source", metavar="REMOTE_OR_FOLDER", help=FROM_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the fleet's status document.")
def fleet_status(plan_path: str, source: str | None, as_json: bool) -> int:
    """One line per host, worst first. Exits 1 when a host is silent or unreadable."""
    from backupplan.commands.fleet import status_command

    return status_command(source, plan_path, as_json=as_json)


@fleet.command("check", cls=MonitoringCommand, context_settings=CONTEXT)
@plan_option
@click.option("--from", "source", metavar="REMOTE_OR_FOLDER", help=FROM_HELP)
def fleet_check(plan_path: str, source: str | None) -> int:
    """The fleet as one monitoring plugin: OK, WARNING, CRITICAL (a silent or unreadable host, a
    failed job) or UNKNOWN, with performance data."""
    from backupplan.commands.fleet import check_command

    return check_command(source, plan_path)
