"""metrics.prom carries what an alert needs when nothing updates any more: each job's deadline,
when a fresher status is due, and the state dir's room; checked by promtool against the example
rules in examples/monitoring/ (tests/test_prometheus_rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backupplan.site.machine import metrics_prom
from backupplan.site.views import job_views


def document(**extra: Any) -> dict[str, Any]:
    job = {
        "id": "photos", "status": "paused", "enabled": True, "overdue": True, "paused": True,
        "deadline": "2026-11-29T03:00:00Z", "last_run": None, "last_success": None,
        "runs": 0, "failures": 0,
    }  # fmt: skip
    return {
        "generated_at": "2026-11-29T12:00:00Z",
        "journal": {"healthy": True},
        "jobs": [job],
        "freshness": {"kept_by": "daemon", "heartbeat": 60, "expected_by": "2026-11-29T12:03:00Z"},
        "state_dir": {"path": "/s", "free_bytes": 1024, "total_bytes": 4096, "problem": "is full"},
        **extra,
    }


def unix(*parts: int) -> str:
    return str(int(datetime(*parts, tzinfo=UTC).timestamp()))  # type: ignore[misc]


def samples(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_deadlines_freshness_and_the_state_dir() -> None:
    status = document()
    found = samples(metrics_prom(status, job_views(status["jobs"], {}).values()))
    assert found['backupplan_job_deadline_timestamp_seconds{job="photos"}'] == unix(2026, 11, 29, 3)
    assert found['backupplan_job_paused{job="photos"}'] == "1"
    assert found['backupplan_job_overdue{job="photos"}'] == "1"
    assert found["backupplan_status_expected_by_timestamp_seconds"] == unix(2026, 11, 29, 12, 3)
    assert found["backupplan_state_dir_free_bytes"] == "1024"
    assert found["backupplan_state_dir_size_bytes"] == "4096"
    assert found["backupplan_state_dir_problem"] == "1"


def test_an_older_document_leaves_them_out() -> None:
    status = document(freshness=None, state_dir=None)
    status["jobs"][0].pop("deadline")
    text = metrics_prom(status, job_views(status["jobs"], {}).values())
    assert "backupplan_status_expected_by_timestamp_seconds " not in text
    assert "backupplan_state_dir_problem " not in text
    assert "backupplan_job_deadline_timestamp_seconds{" not in text


def test_a_held_job_and_its_last_runs_changes() -> None:
    status = document()
    status["jobs"][0].update(status="held", paused=False, last_run={
        "status": "held", "changes": {"added": 1, "changed": 812, "deleted": 0}})  # fmt: skip
    found = samples(metrics_prom(status, job_views(status["jobs"], {}).values()))
    assert found['backupplan_job_status{job="photos",status="held"}'] == "1"
    assert found['backupplan_job_last_run_changes{job="photos",change="changed"}'] == "812"
    assert found['backupplan_job_last_run_changes{job="photos",change="added"}'] == "1"
