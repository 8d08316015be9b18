"""The judge of `backupplan check`: a status document (docs/status-json.md), the reader's clock and
the thresholds in, a Verdict out. Pure: no file, no clock, no printing.

The document may be old, from another host, or hostile: every field is read defensively (a field
of the wrong type counts as missing), every text it carries is made safe for one line, and a job is
overdue once its `deadline` passed by the reader's clock, whatever the document's `overdue` says.
The rules themselves are in `jobs.py` and `machine.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from backupplan.monitor.findings import Finding, Rules, moment, when
from backupplan.monitor.jobs import JOB_LIMIT, JobCounts, counts_perfdata, judge_jobs, never_applied
from backupplan.monitor.machine import age_perfdata, machine_findings, space_perfdata
from backupplan.monitor.thresholds import Thresholds
from backupplan.monitor.verdict import State, Verdict, one_line, unknown
from backupplan.units import format_duration

STATUS_FORMAT = 1  # the format this judge reads: backupplan.status.document.STATUS_FORMAT
NAMED = 3  # problems named on the status line; every one is in the long output
DETAILS_SHOWN = 50  # long output lines at most: NRPE, chat and mail all want it short


def malformed(document: Any) -> str | None:
    """Given what was read, return why it cannot be judged, or None when it is a status
    document of a format this judge reads."""
    if not isinstance(document, dict):
        return "not a backupplan status document: not a JSON object"
    found = document.get("format")
    if "format" not in document:
        return 'not a backupplan status document: no "format"'
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        return f"not a backupplan status document: format {one_line(found, 40)}"
    if found > STATUS_FORMAT:
        return f"status format {found} is newer than this backupplan reads ({STATUS_FORMAT}): upgrade it here"
    if moment(document.get("generated_at")) is None:
        return "the status document has no valid generated_at"
    if not isinstance(document.get("jobs"), list):
        return "the status document has no list of jobs"
    return None


def judge(
    document: Any,
    now: datetime,
    thresholds: Thresholds | None = None,
    jobs: Sequence[str] = (),
) -> Verdict:
    """Given a status document, the reader's aware `now`, thresholds and the jobs to judge (every
    job when empty), return the Verdict: the worst state found, the worst problems named first.
    UNKNOWN when the document cannot be judged or a job asked for is not in it (or was removed)."""
    rules = Rules(thresholds or Thresholds(), now.astimezone(UTC))
    problem = malformed(document)
    if problem is not None:
        return unknown(problem)
    entries = [
        item for item in document["jobs"] if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]
    if jobs:
        by_id = {entry["id"]: entry for entry in entries}
        missing = [name for name in dict.fromkeys(jobs) if name not in by_id]
        if missing:
            return unknown(_no_such_jobs(missing, document))
        removed = [name for name in dict.fromkeys(jobs) if by_id[name].get("status") == "removed"]
        if removed:  # a monitor still watching it: its configuration needs the change too
            return unknown(f"job '{one_line(removed[0], JOB_LIMIT)}' was removed from the plan")
        entries = [by_id[name] for name in dict.fromkeys(jobs)]
    generated = moment(document["generated_at"])
    look = judge_jobs(entries, rules)
    findings = [*look.findings, *machine_findings(document, generated, rules)]
    if never_applied(document, entries):
        text = "the plan was never applied: its scheduled jobs do not run (backupplan apply)"
        findings.append(Finding(State.WARNING, text))
    findings.sort(key=Finding.key)
    state = max((finding.state for finding in findings), default=State.OK)
    if findings:
        summary = "; ".join(finding.text for finding in findings[:NAMED])
        if len(findings) > NAMED:
            summary += f"; and {len(findings) - NAMED} more"
    else:
        age = None if generated is None else (rules.now - generated).total_seconds()
        summary = _all_good(look.counts, age)
    details = [f"{finding.state.name}: {finding.text}" for finding in findings[:DETAILS_SHOWN]]
    if len(findings) > DETAILS_SHOWN:
        details.append(f"… and {len(findings) - DETAILS_SHOWN} more problems")
    details += look.notes[:DETAILS_SHOWN]
    details.append(_about(document, generated, rules.now))
    perfdata = (
        *counts_perfdata(look.counts),
        *age_perfdata(document, generated, rules),
        *space_perfdata(document, rules),
    )
    return Verdict(state, summary, tuple(details), perfdata)


def _no_such_jobs(missing: list[str], document: dict[str, Any]) -> str:
    names = ", ".join(f"'{one_line(name, JOB_LIMIT)}'" for name in missing[:NAMED])
    if len(missing) > NAMED:
        names += f" and {len(missing) - NAMED} more"
    host = document.get("host")
    where = f" of {one_line(host, 100)}" if isinstance(host, str) and host else ""
    return f"no job{'s' if len(missing) > 1 else ''} named {names} in the status{where}"


def _all_good(counts: JobCounts, age: float | None) -> str:
    """`12 jobs on time, 1 running, last update 40s ago`."""
    text = f"{counts.jobs} job{'s' if counts.jobs != 1 else ''} on time"
    for count, word in (
        (counts.running, "running"),
        (counts.paused, "paused"),
        (counts.disabled, "disabled"),
    ):
        if count:
            text += f", {count} {word}"
    if age is not None and age >= 1:
        text += f", last update {format_duration(age)} ago"
    return text


def _about(document: dict[str, Any], generated: datetime | None, now: datetime) -> str:
    """The long output's last line: whose status this is, when and by what it was written."""
    host, version = document.get("host"), document.get("backupplan_version")
    text = "status"
    if isinstance(host, str) and host:
        text += f" of {one_line(host, 100)}"
    if generated is not None:
        text += f" written {when(generated, now)}"
    if isinstance(version, str) and version:
        text += f" by backupplan {one_line(version, 40)}"
    freshness = document.get("freshness")
    kept_by = freshness.get("kept_by") if isinstance(freshness, dict) else None
    if isinstance(kept_by, str) and kept_by:
        text += f", kept fresh by: {one_line(kept_by, 20)}"
    return text
