"""What the site is built from: plain data, gathered by the caller, never read from classes.

The status document (docs/status-json.md) carries the jobs' state, progress, recent runs,
interruptions and journal problems. The rest is what only the plan and the state directory know:
each job's effective configuration (secrets already masked), its next run times and its run
history; the effective and default settings; the tool check; the paths.

A `SiteInput` can be written as JSON and read back (`to_json` / `from_json`): the tests and the
benchmark build sites from such files, and so can anyone who wants to preview a site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from backupplan.errors import StateError
from backupplan.site.text import parse_time

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class ToolCheck:
    """Whether one external program was found: gathered by the caller (the site runs nothing)."""

    name: str
    path: str | None
    version: str | None
    ok: bool
    problem: str | None = None


@dataclass(frozen=True)
class JobInput:
    """What the site shows about one job besides its status.

    `config` is the job as `LoadedPlan.normalized()["jobs"][id]` gives it (secrets masked);
    `next_runs` are RFC 3339 UTC timestamps; `history` holds RunSummary dicts, newest first.
    """

    id: str
    config: JsonDict | None = None
    next_runs: list[str] = field(default_factory=list)
    history: list[JsonDict] = field(default_factory=list)


@dataclass(frozen=True)
class SitePaths:
    """Where things are, shown on the settings page; `state_dir` is also where logs are read."""

    state_dir: str
    site_dir: str
    plan_path: str | None = None
    plan_digest: str | None = None
    applied_at: str | None = None
    applied_digest: str | None = None


@dataclass(frozen=True)
class SiteInput:
    """Everything one build of the site needs. `now` is the build's clock: rendering never reads
    the real one, so the same input always gives the same pages."""

    now: datetime
    status: JsonDict
    paths: SitePaths
    jobs: dict[str, JobInput] = field(default_factory=dict)
    settings: JsonDict = field(default_factory=dict)
    default_settings: JsonDict = field(default_factory=dict)
    tools: list[ToolCheck] = field(default_factory=list)
    refresh: float = 5.0
    log_lines: int = 500

    @property
    def logs_dir(self) -> Path:
        """Where the runner keeps per-run logs: STATE_DIR/logs/<job>/<run-id>.log."""
        return Path(self.paths.state_dir) / "logs"

    def to_json(self) -> JsonDict:
        """Return this input as JSON-ready data (what `from_json` reads)."""
        return {
            "now": self.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": self.status,
            "paths": vars(self.paths),
            "jobs": {
                job_id: {"config": job.config, "next_runs": job.next_runs, "history": job.history}
                for job_id, job in self.jobs.items()
            },
            "settings": self.settings,
            "default_settings": self.default_settings,
            "tools": [vars(tool) for tool in self.tools],
            "refresh": self.refresh,
            "log_lines": self.log_lines,
        }

    @classmethod
    def from_json(
        cls, data: JsonDict, *, state_dir: str | None = None, site_dir: str | None = None
    ) -> SiteInput:
        """Given data from `to_json`, return a SiteInput; `state_dir`/`site_dir` override the paths
        recorded in it. Raise StateError saying which field is wrong when the data does not fit."""
        try:
            now = parse_time(data["now"])
            if now is None:
                raise StateError(f"site input: 'now' is not an RFC 3339 time: {data['now']!r}")
            paths = dict(data["paths"])
            if state_dir is not None:
                paths["state_dir"] = state_dir
            if site_dir is not None:
                paths["site_dir"] = site_dir
            return cls(
                now=now,
                status=dict(data["status"]),
                paths=SitePaths(**paths),
                jobs={
                    str(job_id): JobInput(
                        id=str(job_id),
                        config=job.get("config"),
                        next_runs=list(job.get("next_runs") or []),
                        history=list(job.get("history") or []),
                    )
                    for job_id, job in (data.get("jobs") or {}).items()
                },
                settings=dict(data.get("settings") or {}),
                default_settings=dict(data.get("default_settings") or {}),
                tools=[ToolCheck(**tool) for tool in data.get("tools") or []],
                refresh=float(data.get("refresh", 5.0)),
                log_lines=int(data.get("log_lines", 500)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StateError(
                f"site input does not fit the expected shape: {type(error).__name__}: {error}"
            ) from None


def load_site_input(path: Path, *, state_dir: str | None = None, site_dir: str | None = None) -> SiteInput:
    """Given a JSON file written from `SiteInput.to_json`, return the SiteInput; raise StateError
    naming the file when it cannot be read or parsed."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StateError(f"cannot read site input {path}: {error}") from None
    if not isinstance(data, dict):
        raise StateError(f"site input {path}: expected a JSON object")
    return SiteInput.from_json(data, state_dir=state_dir, site_dir=site_dir)
