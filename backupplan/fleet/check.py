"""`backupplan fleet check`: the whole fleet as one monitoring plugin (the conventions of
`backupplan check`: one line, performance data, exit 0/1/2/3). A silent host or one whose status
cannot be read is CRITICAL; otherwise each host counts with the state its own check would have."""

from __future__ import annotations

from backupplan.fleet.hosts import Host
from backupplan.monitor.verdict import Perfdatum, State, Verdict, one_line, unknown

NAMED = 3
DETAILS_SHOWN = 50
# A failing host counts worse than one that cannot be judged: CRITICAL > WARNING > UNKNOWN > OK.
SEVERITY = {State.OK: 0, State.UNKNOWN: 1, State.WARNING: 2, State.CRITICAL: 3}


def host_state(host: Host) -> State:
    return State.CRITICAL if host.silent or host.damaged else host.state


def fleet_verdict(hosts: list[Host]) -> Verdict:
    """Given every host (worst first), return the fleet's Verdict."""
    if not hosts:
        return unknown("no host has published its status there yet")
    states = {host.name: host_state(host) for host in hosts}
    bad = sorted(
        (host for host in hosts if states[host.name] != State.OK),
        key=lambda host: -SEVERITY[states[host.name]],
    )
    worst = max(states.values(), key=lambda state: SEVERITY[state])
    texts = [_text(host) for host in bad]
    if texts:
        summary = f"{len(bad)} of {len(hosts)} hosts need a look: " + "; ".join(texts[:NAMED])
        if len(texts) > NAMED:
            summary += f"; and {len(texts) - NAMED} more"
    else:
        summary = f"all {len(hosts)} hosts heard from, every job fine"
    details = [f"{states[host.name].name}: {text}" for host, text in zip(bad, texts, strict=True)][
        :DETAILS_SHOWN
    ]
    perfdata = (
        Perfdatum("hosts", len(hosts), minimum=0),
        Perfdatum("silent", sum(host.silent for host in hosts), critical="0", minimum=0),
        Perfdatum("unreadable", sum(host.damaged is not None for host in hosts), critical="0", minimum=0),
        Perfdatum(
            "critical", sum(state == State.CRITICAL for state in states.values()), critical="0", minimum=0
        ),
        Perfdatum(
            "warning", sum(state == State.WARNING for state in states.values()), warning="0", minimum=0
        ),
    )
    return Verdict(worst, one_line(summary, 400), tuple(one_line(line, 400) for line in details), perfdata)


def _text(host: Host) -> str:
    if host.damaged:
        return f"{host.name} unreadable ({host.damaged})"
    if host.silent:
        return f"{host.name} silent since {host.last_seen or 'never'}"
    return f"{host.name}: {host.summary}"
