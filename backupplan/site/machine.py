"""Files for machines: status.json, metrics.prom (Prometheus textfile) and badges (shields.io)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import orjson

from backupplan.site.data import JsonDict
from backupplan.site.text import neutralise, parse_time
from backupplan.site.views import JobView, badge

BADGE_COLOURS = {
    "succeeded": "brightgreen",
    "warning": "yellow",
    "failed": "red",
    "timed_out": "red",
    "held": "red",  # nothing was backed up: a failure, until the changes are accepted
    "interrupted": "orange",
    "running": "blue",
    "paused": "lightgrey",
    "never_run": "lightgrey",
    "disabled": "lightgrey",
    "removed": "lightgrey",
    "overdue": "orange",
}


def status_json(status: JsonDict) -> str:
    """Given the status document, return status.json's text: compact JSON. orjson writes it ten
    times faster; what orjson refuses (a lone surrogate, an integer beyond 64 bits) goes through
    the json module, which writes a lone surrogate as its backslash escape (JSON reads that back as
    the same character)."""
    encoded = status_bytes(status)
    if encoded is not None:
        return encoded.decode()
    return json.dumps(status, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)


def status_bytes(status: JsonDict) -> bytes | None:
    """status_json's text as UTF-8, when orjson writes it (None otherwise: see status_json)."""
    try:
        return orjson.dumps(status, default=str)
    except orjson.JSONEncodeError:
        return None


def _label(value: str) -> str:
    """A Prometheus label value: escape backslash, quote and newline; show other controls."""
    return neutralise(value).replace("\\", "\\\\").replace('"', '\\"')


def _seconds(value: object) -> float | None:
    moment = parse_time(value)
    return moment.timestamp() if moment else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _format(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


METRICS = (
    ("backupplan_job_last_success_timestamp_seconds", "gauge", "When the job last succeeded (Unix time)."),
    ("backupplan_job_last_run_timestamp_seconds", "gauge", "When the job's last run started (Unix time)."),
    ("backupplan_job_last_run_duration_seconds", "gauge", "How long the job's last run took."),
    ("backupplan_job_last_run_bytes", "gauge", "Bytes the job's last run transferred."),
    ("backupplan_job_last_run_exit_code", "gauge", "Exit code of the engine in the job's last run."),
    ("backupplan_job_status", "gauge", "1 for the job's current status, 0 for the others."),
    ("backupplan_job_overdue", "gauge", "1 when the job's last success is older than its schedule allows."),
    (
        "backupplan_job_deadline_timestamp_seconds",
        "gauge",
        "When the job becomes overdue (Unix time): alert on time() past it, even if nothing updates.",
    ),
    ("backupplan_job_paused", "gauge", "1 while the job is paused."),
    ("backupplan_job_running", "gauge", "1 while the job runs."),
    (
        "backupplan_job_last_run_changes",
        "gauge",
        "Files the job's last run added, changed and deleted at the destination (label change).",
    ),
    ("backupplan_job_runs_total", "counter", "Runs on record."),
    ("backupplan_job_failures_total", "counter", "Runs on record that failed or timed out."),
)


_STATUSES = (
    "never_run",
    "running",
    "paused",
    "succeeded",
    "warning",
    "failed",
    "held",
    "interrupted",
    "disabled",
)


def job_samples(view: JobView) -> tuple[str, ...]:
    """Given a job, return its samples of each of METRICS, in that order: the lines of one metric
    joined by newlines, "" when the job has no value for it."""
    samples: dict[str, list[str]] = {name: [] for name, _, _ in METRICS}

    def add(name: str, labels: str, value: float | None) -> None:
        if value is not None:
            samples[name].append(f"{name}{{{labels}}} {_format(value)}")

    job = f'job="{_label(view.id)}"'
    state = view.status
    run = view.last_run or {}
    add("backupplan_job_last_success_timestamp_seconds", job, _seconds(state.get("last_success")))
    add("backupplan_job_last_run_timestamp_seconds", job, _seconds(run.get("started_at")))
    add("backupplan_job_last_run_duration_seconds", job, _number(run.get("duration")))
    add("backupplan_job_last_run_bytes", job, _number(run.get("bytes")))
    add("backupplan_job_last_run_exit_code", job, _number(run.get("exit_code")))
    current = view.primary.key
    for key in _STATUSES:
        add("backupplan_job_status", f'{job},status="{key}"', 1.0 if current == key else 0.0)
    add("backupplan_job_overdue", job, 1.0 if state.get("overdue") is True else 0.0)
    add("backupplan_job_deadline_timestamp_seconds", job, _seconds(state.get("deadline")))
    add("backupplan_job_paused", job, 1.0 if state.get("paused") is True else 0.0)
    add("backupplan_job_running", job, 1.0 if state.get("status") == "running" else 0.0)
    changes = run.get("changes")
    if isinstance(changes, dict):
        for change in ("added", "changed", "deleted"):
            add("backupplan_job_last_run_changes", f'{job},change="{change}"', _number(changes.get(change)))
    add("backupplan_job_runs_total", job, _number(state.get("runs")))
    add("backupplan_job_failures_total", job, _number(state.get("failures")))
    return tuple("\n".join(samples[name]) for name, _, _ in METRICS)


def _same(text: str) -> str:
    return text


def metrics_prom(
    status: JsonDict,
    views: Iterable[JobView],
    samples: Callable[[JobView], tuple[str, ...]] = job_samples,
    shown: Callable[[str], str] | None = None,
) -> str:
    """Given the status document and the jobs, return metrics.prom in the Prometheus text format;
    `samples` gives a job's samples (job_samples, or what it gave before), and the other lines are
    passed through `shown` (a mask of one line; None: as they are)."""
    shown = shown or _same
    by_job = [samples(view) for view in views]
    lines = []
    for index, (name, kind, help_text) in enumerate(METRICS):
        lines += [shown(f"# HELP {name} {help_text}"), shown(f"# TYPE {name} {kind}")]
        lines += [each_job[index] for each_job in by_job if each_job[index]]
    journal = status.get("journal") or {}
    healthy = 1 if journal.get("healthy", True) is not False else 0
    ending = [
        "# HELP backupplan_journal_healthy 0 when the journal is damaged or of a newer format.",
        "# TYPE backupplan_journal_healthy gauge",
        f"backupplan_journal_healthy {healthy}",
    ]
    freshness = status.get("freshness") or {}
    space = status.get("state_dir") or {}
    problem = space.get("problem") if isinstance(space, dict) else None
    for name, help_text, value in (
        (
            "backupplan_status_generated_timestamp_seconds",
            "When this status was generated.",
            _seconds(status.get("generated_at")),
        ),
        (
            "backupplan_status_expected_by_timestamp_seconds",
            "When a fresher status is due at the latest (a daemon's heartbeat, the next timer slot).",
            _seconds(freshness.get("expected_by")) if isinstance(freshness, dict) else None,
        ),
        (
            "backupplan_state_dir_free_bytes",
            "Free space on the state dir's file system.",
            _number(space.get("free_bytes")) if isinstance(space, dict) else None,
        ),
        (
            "backupplan_state_dir_size_bytes",
            "Size of the state dir's file system.",
            _number(space.get("total_bytes")) if isinstance(space, dict) else None,
        ),
        (
            "backupplan_state_dir_problem",
            "1 while the state dir cannot record a run (full, read-only, not ours).",
            (1.0 if problem else 0.0) if isinstance(space, dict) and space else None,
        ),
    ):
        if value is not None:
            ending += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {_format(value)}"]
    lines += [shown(line) for line in ending]
    return "\n".join(lines) + "\n"


def badge_json(view: JobView) -> bytes:
    """Given a job, return its shields.io endpoint badge (https://shields.io/badges/endpoint-badge)."""
    key = view.primary.key
    if key not in ("disabled", "running") and view.status.get("overdue") is True:
        key = "overdue"
    words = badge(key).words
    document = {
        "schemaVersion": 1,
        "label": neutralise(f"backup {view.id}")[:80],
        "message": words,
        "color": BADGE_COLOURS.get(key, "lightgrey"),
        "isError": key in ("failed", "timed_out", "held", "interrupted", "overdue"),
        "cacheSeconds": 300,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")
