"""Status documents for the judge's tests: a healthy one at NOW, and ways to change it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
TOTAL = 100 * 1024**3  # a 100 GiB state dir file system


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(job_id: str, **changes: Any) -> dict[str, Any]:
    """A scheduled job that succeeded at 02:00 today and is due again tomorrow."""
    entry: dict[str, Any] = {
        "id": job_id,
        "description": None,
        "engine": "rsync",
        "enabled": True,
        "status": "succeeded",
        "overdue": False,
        "deadline": "2026-11-29T03:00:00Z",
        "paused": False,
        "paused_since": None,
        "paused_by": None,
        "schedule": "0 2 * * *",
        "next_run": "2026-11-29T02:00:00Z",
        "last_run": {
            "run": "20261128T020000Z-3f9a",
            "job": job_id,
            "status": "succeeded",
            "reason": None,
            "trigger": "schedule",
            "started_at": "2026-11-28T02:00:00Z",
            "finished_at": "2026-11-28T02:00:41Z",
            "duration": 41.0,
            "exit_code": 0,
            "bytes": 1000,
            "files": 3,
            "attempts": 1,
            "log": f"logs/{job_id}/20261128T020000Z-3f9a.log",
        },
        "last_success": "2026-11-28T02:00:41Z",
        "runs": 12,
        "failures": 0,
        "bytes": 12000,
        "files": 36,
        "progress": None,
        "verify": None,
    }
    entry.update(changes)
    return entry


def ended(
    entry: dict[str, Any], status: str, reason: str | None, run_status: str | None = None
) -> dict[str, Any]:
    """The job with its last run ended `run_status` (default `status`) for `reason`."""
    entry = copy.deepcopy(entry)
    entry["status"] = status
    entry["last_run"].update(status=run_status or status, reason=reason, exit_code=23)
    return entry


BASE: dict[str, Any] = {
    "format": 1,
    "generated_at": stamp(NOW - timedelta(seconds=40)),
    "backupplan_version": "0.1.0",
    "host": "nas",
    "freshness": {"kept_by": "daemon", "heartbeat": 60, "expected_by": stamp(NOW + timedelta(seconds=140))},
    "state_dir": {
        "path": "/srv/backups/.backupplan",
        "free_bytes": TOTAL // 2,
        "total_bytes": TOTAL,
        "problem": None,
    },
    "plan": {
        "path": "/srv/backups/backups.yaml",
        "digest": "sha256:abc",
        "applied_at": "2026-11-27T09:12:44Z",
        "applied_digest": "sha256:abc",
    },
    "journal": {"records": 1234, "last_seq": 1234, "healthy": True, "problems": []},
    "summary": {},  # the judge counts for itself
    "jobs": [
        job("docs"),
        job("music", schedule=None, next_run=None, deadline=None),
        job("photos"),
    ],
    "recent_runs": [],
    "interruptions": [],
}


def document(*jobs: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The healthy document, with `jobs` replacing the jobs of the same id (or added), and
    top-level fields changed."""
    result = copy.deepcopy(BASE)
    by_id = {entry["id"]: entry for entry in result["jobs"]}
    for entry in jobs:
        by_id[entry["id"]] = entry
    result["jobs"] = sorted(by_id.values(), key=lambda entry: entry["id"])
    result.update(changes)
    return result


def perfdata(line: str) -> dict[str, str]:
    """The perfdata of a status line: label -> the rest (`3;;;0`)."""
    _, _, data = line.partition(" | ")
    items = {}
    for item in data.split():
        label, _, rest = item.partition("=")
        items[label.strip("'")] = rest
    return items
