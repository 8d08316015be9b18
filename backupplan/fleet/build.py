"""The fleet page: every host's published status gathered into one status document
(`fleet.json`'s form, written as the fleet site's status.json), Prometheus metrics with a `host`
label, an Atom feed of what needs a look, and the page itself (rendered by backupplan.site.fleet).

Hosts are independent: each is read and judged alone (backupplan.fleet.hosts), so one damaged or
hostile document is reported for its host and changes nothing for the others.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from backupplan import __version__
from backupplan.fleet.collect import Collected, collect
from backupplan.fleet.hosts import Host, host_folders, read_host
from backupplan.fsutil import atomic_write
from backupplan.monitor.verdict import State
from backupplan.status.document import stamp

FLEET_FORMAT = 1
ATTENTION_SHOWN = 500  # job lines on the page at most (every one is in status.json)
STATES = {State.OK: "ok", State.WARNING: "warning", State.CRITICAL: "critical", State.UNKNOWN: "unknown"}


@dataclass(frozen=True)
class FleetReport:
    hosts: int
    silent: int
    damaged: int
    failing: int
    site_dir: Path


def gather(collected: Collected, now: datetime, link_base: str | None, site_dir: Path | None) -> list[Host]:
    """Read and judge every host of the collected folder, worst first. A host's own site is
    linked under `link_base` (a URL) when given, else relative to `site_dir` for a local folder."""
    hosts = []
    for name in host_folders(collected.root):
        hosts.append(read_host(collected.root, name, now, _site_link(collected, name, link_base, site_dir)))
    hosts.sort(key=lambda host: host.rank)
    return hosts


def _site_link(collected: Collected, name: str, link_base: str | None, site_dir: Path | None) -> str | None:
    if name not in collected.sites:
        return None
    if link_base:
        return f"{link_base.rstrip('/')}/{name}/index.html"
    if collected.local and site_dir is not None:
        return os.path.relpath(collected.root / name / "index.html", site_dir.absolute())
    return None


def fleet_document(hosts: list[Host], now: datetime, source: str, every: float) -> dict[str, Any]:
    """The fleet's status document (docs/fleet.md: the fleet's status.json)."""
    attention = [line for host in hosts for line in host.trouble]
    attention.sort(key=lambda line: (0 if line.status in ("failed", "held") else 1, line.host, line.job))
    return {
        "format": FLEET_FORMAT,
        "kind": "fleet",
        "generated_at": stamp(now),
        "backupplan_version": __version__,
        "source": source,
        "rebuilt_every": every,
        "summary": {
            "hosts": len(hosts),
            "silent": sum(host.silent for host in hosts),
            "damaged": sum(host.damaged is not None for host in hosts),
            **{name: sum(host.state == state for host in hosts) for state, name in STATES.items()},
            "jobs": sum(host.jobs for host in hosts),
            "failed": sum(host.counts.get("failed", 0) + host.counts.get("held", 0) for host in hosts),
            "overdue": sum(host.overdue for host in hosts),
            "running": sum(host.counts.get("running", 0) for host in hosts),
            "bytes_total": sum(host.bytes for host in hosts),
        },
        "hosts": [_host_json(host) for host in hosts],
        "attention": [asdict(line) for line in attention],
    }


def _host_json(host: Host) -> dict[str, Any]:
    return {
        "host": host.name,
        "state": STATES[host.state],
        "silent": host.silent,
        "damaged": host.damaged,
        "summary": host.summary,
        "last_seen": host.last_seen,
        "silent_after": host.deadline,
        "kept_by": host.kept_by,
        "backupplan_version": host.version,
        "jobs": {"total": host.jobs, **host.counts, "overdue": host.overdue},
        "bytes": host.bytes,
        "publish_error": host.publish_error,
        "site": host.site,
    }


def metrics(document: Mapping[str, Any]) -> str:
    """Prometheus text format: per host, whether it is heard from, when, its state as `backupplan
    check` judges it (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), and its jobs by status."""
    codes = {name: int(state) for state, name in STATES.items()}
    up, seen, state, jobs = [], [], [], []
    for host in document["hosts"]:
        label = f'host="{_label(host["host"])}"'
        up.append(f"{{{label}}} {0 if host['silent'] or host['damaged'] else 1}")
        if host["last_seen"]:
            moment = datetime.fromisoformat(host["last_seen"].replace("Z", "+00:00")).timestamp()
            seen.append(f"{{{label}}} {moment:.0f}")
        state.append(f"{{{label}}} {codes[host['state']]}")
        jobs += [
            f'{{{label},status="{key}"}} {count}' for key, count in host["jobs"].items() if key != "total"
        ]
    lines = [
        *_family("backupplan_fleet_host_up", "1 while the host publishes on time, readably.", up),
        *_family("backupplan_fleet_host_last_seen_timestamp_seconds", "When its status was written.", seen),
        *_family("backupplan_fleet_host_state", "Its state as backupplan check judges it.", state),
        *_family("backupplan_fleet_jobs", "Its jobs by status (overdue counted apart).", jobs),
    ]
    return "\n".join(lines) + "\n"


def _family(name: str, text: str, samples: list[str]) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} gauge", *(name + sample for sample in samples)]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def build_fleet(
    source: str,
    site_dir: Path,
    *,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    link_base: str | None = None,
    every: float = 300.0,
) -> FleetReport:
    """Read every host's status from `source` and write the fleet site into `site_dir`; raise
    BackupplanError when the source cannot be read (the previous fleet site is kept then)."""
    from backupplan.site.fleet import render_feed, render_page, write_assets

    moment = now or datetime.now(UTC)
    with collect(source, base_dir, env) as collected:
        hosts = gather(collected, moment, link_base, site_dir)
        document = fleet_document(hosts, moment, collected.shown, every)
    site_dir.mkdir(parents=True, exist_ok=True)
    write_assets(site_dir)
    files = {
        "status.json": orjson.dumps(document, option=orjson.OPT_INDENT_2),
        "metrics.prom": metrics(document).encode(),
        "feed.xml": render_feed(document, ATTENTION_SHOWN).encode(),
        "index.html": render_page(document, ATTENTION_SHOWN).encode(),  # last: it links the rest
    }
    for name, data in files.items():
        atomic_write(site_dir / name, data, mode=0o644, durable=False)
    summary = document["summary"]
    return FleetReport(summary["hosts"], summary["silent"], summary["damaged"], summary["failed"], site_dir)
