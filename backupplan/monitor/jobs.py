"""The rules about jobs: how a job's last outcome, its deadline and a pause turn into a state.

- failed, timed out (`failed` with a `timed_out` last run) or held: CRITICAL;
- ended with a warning, or interrupted by a crash: WARNING;
- overdue (the document says so, or its `deadline` passed by the reader's clock): WARNING, and
  CRITICAL once late by more than `late_critical`; a paused job that is overdue is named as paused;
- disabled and removed jobs are not judged (their last outcome is history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backupplan.monitor.findings import GROUP_LATE, GROUP_OUTCOME, Finding, Rules, moment, when
from backupplan.monitor.verdict import Perfdatum, State, one_line
from backupplan.units import format_duration

JOB_LIMIT = 80  # characters of a job's id shown


@dataclass
class JobCounts:
    """The judged jobs by what was found: the `jobs` … `running` perfdata."""

    jobs: int = 0
    failed: int = 0
    warning: int = 0
    interrupted: int = 0
    overdue: int = 0
    paused: int = 0
    running: int = 0
    disabled: int = 0


@dataclass
class JobLook:
    """What the job rules found across the judged jobs."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # long output: paused jobs that are not late
    counts: JobCounts = field(default_factory=JobCounts)


def overdue_since(entry: dict[str, Any], now: datetime) -> tuple[bool, datetime | None]:
    """Given a job's entry, return whether it is overdue by `now`, and its deadline when known.

    The document's `overdue` may be old; the deadline is compared with the reader's clock, as
    the site does. Disabled and removed jobs are never overdue."""
    deadline = moment(entry.get("deadline"))
    if entry.get("enabled") is False or entry.get("status") == "removed":
        return False, deadline
    return entry.get("overdue") is True or (deadline is not None and deadline < now), deadline


def judge_jobs(entries: list[dict[str, Any]], rules: Rules) -> JobLook:
    """Given the job entries to judge, return their findings, notes and counts."""
    look = JobLook()
    for entry in entries:
        _judge_job(entry, rules, look)
    return look


def _judge_job(entry: dict[str, Any], rules: Rules, look: JobLook) -> None:
    status, counts = entry.get("status"), look.counts
    if status == "removed":
        return
    if entry.get("enabled") is False:
        counts.disabled += 1
        return
    counts.jobs += 1
    name = one_line(entry["id"], JOB_LIMIT)
    parts: list[str] = []
    state = State.OK
    if status in ("failed", "held"):
        counts.failed += 1
        state = State.CRITICAL
        parts.append(_outcome(entry, str(status)))
    elif status == "warning":
        counts.warning += 1
        state = State.WARNING
        parts.append(_outcome(entry, "ended with a warning"))
    elif status == "interrupted":
        counts.interrupted += 1
        state = State.WARNING
        parts.append("was interrupted by a crash (backupplan recover)")
    elif status == "running":
        counts.running += 1
    group = GROUP_OUTCOME if parts else GROUP_LATE
    paused = entry.get("paused") is True
    counts.paused += paused
    overdue, deadline = overdue_since(entry, rules.now)
    lateness = 0.0
    if overdue:
        counts.overdue += 1
        if paused:
            parts.append(_paused_text(entry, rules.now))
        if deadline is None:  # an older document: late, but by how much it does not say
            parts.append("overdue")
            state = max(state, State.WARNING)
        else:
            lateness = max((rules.now - deadline).total_seconds(), 0.0)
            parts.append(f"overdue since {when(deadline, rules.now)} ({format_duration(lateness)})")
            late = State.CRITICAL if lateness > rules.thresholds.late_critical else State.WARNING
            state = max(state, late)
    elif paused:
        look.notes.append(f"{name} {_paused_text(entry, rules.now)}")
    if state is not State.OK:
        look.findings.append(Finding(state, f"{name} " + ", ".join(parts), group, lateness))


def _outcome(entry: dict[str, Any], word: str) -> str:
    """`failed (exit 23: …)`, `timed out (…)`, `held (…)`: the status with the last run's reason."""
    last = entry.get("last_run")
    last = last if isinstance(last, dict) else {}
    if word == "failed" and last.get("status") == "timed_out":
        word = "timed out"
    reason = last.get("reason")
    return word + (f" ({one_line(reason)})" if isinstance(reason, str) and reason else "")


def _paused_text(entry: dict[str, Any], now: datetime) -> str:
    """`paused since 2026-11-27 02:00 UTC by recovery`, with what the document says of it."""
    text = "paused"
    since = moment(entry.get("paused_since"))
    if since is not None:
        text += f" since {when(since, now)}"
    by = entry.get("paused_by")
    if isinstance(by, str) and by:
        text += f" by {one_line(by, 40)}"
    return text


def never_applied(document: dict[str, Any], entries: list[dict[str, Any]]) -> bool:
    """True when a plan with scheduled jobs was never applied: nothing runs them, and without a
    first apply no job has a deadline, so no other rule would ever say so."""
    plan = document.get("plan")
    if not isinstance(plan, dict) or "applied_at" not in plan or plan["applied_at"] is not None:
        return False
    return any(entry.get("enabled") is not False and entry.get("schedule") for entry in entries)


def counts_perfdata(counts: JobCounts) -> tuple[Perfdatum, ...]:
    """`jobs`, `failed` (critical above 0), `warning`, `interrupted` and `overdue` (warning above
    0), `paused`, `running`: counts of the judged jobs."""
    total = counts.jobs
    return (
        Perfdatum("jobs", total, minimum=0),
        Perfdatum("failed", counts.failed, critical="0", minimum=0, maximum=total),
        Perfdatum("warning", counts.warning, warning="0", minimum=0, maximum=total),
        Perfdatum("interrupted", counts.interrupted, warning="0", minimum=0, maximum=total),
        Perfdatum("overdue", counts.overdue, warning="0", minimum=0, maximum=total),
        Perfdatum("paused", counts.paused, minimum=0, maximum=total),
        Perfdatum("running", counts.running, minimum=0, maximum=total),
    )
