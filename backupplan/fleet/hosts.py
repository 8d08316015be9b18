"""Every host's published status, read from one folder (`FOLDER/HOST/status.json`) and judged.

A host document may be anything: torn, huge, of another format, hostile. Each is read alone and
defensively; what cannot be read is reported for that host (`damaged`), never for the fleet. Each
readable document is judged by `backupplan check`'s judge (backupplan.monitor), with its
freshness deadline moved by the host's publishing interval (a published copy is up to `every`
older than the host's own), and a host past that deadline is **silent**.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from backupplan.monitor.findings import moment
from backupplan.monitor.judge import judge, malformed
from backupplan.monitor.machine import dict_of, expected_by
from backupplan.monitor.verdict import State, Verdict, one_line
from backupplan.plan.model.fleet import HOST_NAME
from backupplan.status.document import stamp
from backupplan.units import format_size

DOCUMENT_LIMIT = 16 * 1024 * 1024  # a host's status.json larger than this is not read
SILENT_GRACE = 60.0  # seconds past a host's deadline before it is called silent
JOB_COUNTS = ("succeeded", "warning", "failed", "held", "interrupted", "running", "paused", "never_run")
TROUBLE = ("failed", "held", "interrupted", "warning")  # job statuses listed for attention
TEXT_LIMIT = 300


@dataclass
class JobLine:
    """One job of one host that needs a look: failed, held, interrupted, warned or overdue."""

    host: str
    job: str
    status: str
    overdue: bool
    last_run: str | None
    reason: str | None


@dataclass
class Host:
    """One host as the fleet sees it."""

    name: str
    state: State
    summary: str
    silent: bool = False
    damaged: str | None = None
    last_seen: str | None = None  # the document's generated_at
    deadline: str | None = None  # when it is silent if nothing newer arrives
    kept_by: str | None = None
    version: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    jobs: int = 0
    bytes: int = 0
    publish_error: str | None = None
    site: str | None = None  # a link to the host's own site, when it was published
    trouble: list[JobLine] = field(default_factory=list)

    @property
    def rank(self) -> tuple[int, int, str]:
        """Worst first: damaged and silent, then by the judge's state, then by name."""
        first = 0 if self.damaged else 1 if self.silent else 2
        return (first, -int(self.state), self.name)


def host_folders(root: Path) -> list[str]:
    """The names of the folders of `root` that hold a status.json (in name order)."""
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError:
        return []
    return [entry.name for entry in entries if entry.is_dir() and (Path(entry.path) / "status.json").exists()]


def read_host(root: Path, name: str, now: datetime, site: str | None = None) -> Host:
    """Given the folder of every host, a host's folder name and the reader's clock, return the
    Host: read and judged, or damaged with the reason."""
    if not HOST_NAME.match(name):
        return _damaged(one_line(name, 80), "its folder name is not a host name")
    path = root / name / "status.json"
    try:
        size = path.stat().st_size
        if size > DOCUMENT_LIMIT:
            limit = format_size(DOCUMENT_LIMIT)
            return _damaged(name, f"status.json is {format_size(size)}: more than {limit} is not read")
        data = path.read_bytes()
    except OSError as error:
        return _damaged(name, f"status.json cannot be read: {error.strerror or error}")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _damaged(name, "status.json is not valid JSON (torn or damaged upload)")
    problem = malformed(document)
    if problem is not None:
        return _damaged(name, problem)
    return judge_host(name, document, now, site)


def judge_host(name: str, document: dict[str, Any], now: datetime, site: str | None = None) -> Host:
    """Given a host's name and its (well-formed) status document, return the judged Host."""
    every = _publish_every(document)
    deadline = expected_by(document)
    if deadline is not None:
        deadline += timedelta(seconds=every)
        freshness = document.get("freshness")
        if isinstance(freshness, dict):  # judged as of the published copy's own deadline
            document = {**document, "freshness": {**freshness, "expected_by": _stamp(deadline)}}
    verdict: Verdict = judge(document, now)
    silent = deadline is not None and now > deadline + timedelta(seconds=SILENT_GRACE)
    host = Host(
        name=name,
        state=verdict.state,
        summary=verdict.summary,
        silent=silent,
        last_seen=_stamp(moment(document.get("generated_at"))),
        deadline=_stamp(deadline),
        kept_by=_word(dict_of(document, "freshness").get("kept_by")),
        version=_word(document.get("backupplan_version")),
        site=site,
    )
    if silent:
        host.state = State.CRITICAL
    reported = document.get("host")
    if isinstance(reported, str) and reported.lower() != name.lower():
        host.summary = f"publishes as {one_line(reported, 80)!r}; {host.summary}"
    publish = dict_of(document, "publish")
    if isinstance(publish.get("error"), str):
        host.publish_error = one_line(publish["error"], TEXT_LIMIT)
    counts = dict.fromkeys(JOB_COUNTS, 0)
    for entry in document["jobs"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        status = entry.get("status")
        if status == "removed":
            continue
        host.jobs += 1
        if isinstance(status, str) and status in counts:
            counts[status] += 1
        overdue = _overdue(entry, now)
        host.overdue += overdue
        size = entry.get("bytes")
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            host.bytes += size
        if status in TROUBLE or overdue:
            host.trouble.append(_job_line(name, entry, str(status), overdue))
    host.counts = counts
    return host


def _job_line(host: str, entry: dict[str, Any], status: str, overdue: bool) -> JobLine:
    last = dict_of(entry, "last_run")
    reason = last.get("reason")
    return JobLine(
        host=host,
        job=one_line(entry["id"], 80),
        status=one_line(status, 20),
        overdue=overdue,
        last_run=_stamp(moment(last.get("finished_at")) or moment(last.get("started_at"))),
        reason=one_line(reason, TEXT_LIMIT) if isinstance(reason, str) else None,
    )


def _overdue(entry: dict[str, Any], now: datetime) -> bool:
    """A job is overdue once its deadline passed by the reader's clock, whatever the document says."""
    deadline = moment(entry.get("deadline"))
    if deadline is None:
        return entry.get("overdue") is True
    return now > deadline


def _publish_every(document: dict[str, Any]) -> float:
    every = dict_of(document, "publish").get("every")
    if isinstance(every, int | float) and not isinstance(every, bool) and 0 < every < 7 * 86400:
        return float(every)
    return 0.0


def _damaged(name: str, reason: str) -> Host:
    return Host(name=name, state=State.UNKNOWN, summary=reason, damaged=reason)


def _word(value: object) -> str | None:
    return one_line(value, 40) if isinstance(value, str) else None


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else stamp(value)
