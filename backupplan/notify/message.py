"""One message per notice: a title and a plain-text body, every text secret-masked.

The body shows the job, the host, the status with the error summary (`reason`), the run id and
attempts, start and end times, the duration, what was transferred, the failure streak, and the
job's page on the status site when `settings.site_url` is set. Lines without data are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from backupplan.notify.decide import Notice, parse_time
from backupplan.secrets import mask
from backupplan.units import format_duration, format_size

Kind = Literal["info", "success", "warning", "failure"]

_STATUS_WORDS = {
    "succeeded": "succeeded",
    "warning": "succeeded with warnings",
    "failed": "failed",
    "timed_out": "timed out",
    "held": "was held: it would change too much",
    "interrupted": "was interrupted",
    "skipped": "was skipped",
}


@dataclass(frozen=True)
class Message:
    """A rendered notification: `kind` picks the apprise notification type (icon, colour)."""

    title: str
    body: str
    kind: Kind


def render(notice: Notice, *, host: str, site_url: str | None = None) -> Message:
    """Given a notice, the host name and settings.site_url, return its masked message."""
    run: Mapping[str, Any] = notice.run or {}
    status = str(run.get("status") or "")
    job = notice.job
    kind: Kind
    if notice.event == "failure":
        what = _STATUS_WORDS.get(status, "failed")
        if notice.reminder:
            what = f"is still failing ({_runs(notice.failed_runs)} since {_when(notice.failing_since)})"
        kind = "failure"
    elif notice.event == "recovery":
        what = "recovered"
        kind = "success"
    elif notice.event == "success":
        what = _STATUS_WORDS.get(status, "succeeded")
        kind = "warning" if status == "warning" else "success"
    elif notice.event == "overdue":
        what = "is overdue"
        kind = "warning"
    else:
        what = "was interrupted"
        kind = "warning"
    title = f"backupplan: {job} {what} on {host}"

    lines = [f"Job: {job}", f"Host: {host}"]
    lines.append(f"Status: {_status_line(notice, status)}")
    if run.get("run"):
        attempts = run.get("attempts")
        suffix = f" ({attempts} attempts)" if isinstance(attempts, int) and attempts > 1 else ""
        lines.append(f"Run: {run['run']}{suffix}")
    started = parse_time(run.get("started_at"))
    finished = parse_time(run.get("finished_at"))
    if started:
        lines.append(f"Started: {_when(started)}")
    if finished:
        lines.append(f"Finished: {_when(finished)}")
    if isinstance(run.get("duration"), int | float):
        lines.append(f"Duration: {format_duration(float(run['duration']))}")
    transferred = _transferred(run)
    if transferred:
        lines.append(f"Transferred: {transferred}")
    if notice.event in ("failure", "recovery", "overdue") and notice.failing_since is not None:
        lines.append(f"Failing since: {_when(notice.failing_since)} ({_runs(notice.failed_runs)})")
    if notice.event == "overdue" or (notice.event == "failure" and notice.run is None):
        last = _when(notice.last_success) if notice.last_success else "never"
        lines.append(f"Last success: {last}")
    if run.get("log"):
        lines.append(f"Log: {run['log']}")
    link = job_page(site_url, job)
    if link:
        lines.append(f"Details: {link}")
    return Message(mask(title), mask("\n".join(lines)), kind)


def render_test(*, host: str, events: Iterable[str], job: str | None, plan: str) -> Message:
    """Given the target's events and what is being tested, return the `notify test` message."""
    scope = f"job {job}" if job else "every job"
    body = "\n".join(
        [
            f"This is a test message from backupplan on {host}.",
            f"Plan: {plan}",
            f"Scope: {scope}",
            f"This target gets: {', '.join(events) or 'nothing (its on: list is empty)'}",
        ]
    )
    return Message(mask(f"backupplan: test message from {host}"), mask(body), "info")


def ping_summary(run: Mapping[str, Any]) -> str:
    """Given a RunSummary, return one short masked line for monitors that take a message."""
    status = str(run.get("status") or "")
    words = _STATUS_WORDS.get(status, status or "finished")
    parts = [words]
    if isinstance(run.get("duration"), int | float):
        parts[0] += f" in {format_duration(float(run['duration']))}"
    transferred = _transferred(run)
    if transferred:
        parts.append(transferred)
    if run.get("reason"):
        parts.append(str(run["reason"]))
    return mask(", ".join(parts))[:500]


def job_page(site_url: str | None, job: str) -> str | None:
    """Given settings.site_url and a job id, return the job's page URL, or None without a site URL."""
    if not site_url:
        return None
    return f"{site_url.rstrip('/')}/jobs/{job}/"


def _status_line(notice: Notice, status: str) -> str:
    if notice.event == "overdue":
        return f"overdue: {notice.detail}" if notice.detail else "overdue"
    if notice.event == "interrupted":
        return f"interrupted: {notice.detail}" if notice.detail else "interrupted"
    if notice.run is None and notice.detail:
        return f"failing: {notice.detail}"
    text = status or notice.event
    reason = (notice.run or {}).get("reason")
    if reason:
        text += f": {reason}"
    if notice.event == "recovery" and notice.failed_runs:
        text += f" (after {_runs(notice.failed_runs)})"
    return text


def _transferred(run: Mapping[str, Any]) -> str | None:
    size = run.get("bytes")
    files = run.get("files")
    if not isinstance(size, int):
        return None
    text = format_size(size)
    if isinstance(files, int):
        text += f" in {files} file{'s' if files != 1 else ''}"
    return text


def _runs(count: int) -> str:
    return f"{count} failed run{'s' if count != 1 else ''}"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "unknown"
