"""`LoadedPlan`: a valid plan and what was learnt loading it. Kept apart from the loader so that a
plan read back from the cache (plan/cache.py) needs only the model classes, not the loader."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupplan.errors import Problem

if TYPE_CHECKING:
    from backupplan.plan.model import Job, Plan


def named_host(environ: Mapping[str, str] | None = None) -> str:
    """The name this machine acts under when neither `settings.host` nor `plan --host` names one:
    $BACKUPPLAN_HOST (of `environ`, else of the process), else its hostname (docs/fleet.md)."""
    named = environ.get("BACKUPPLAN_HOST") if environ is not None else None
    return named or os.environ.get("BACKUPPLAN_HOST") or os.uname().nodename  # socket.gethostname()


@dataclass(frozen=True)
class PlanFacts:
    """What the commands that only read the state (`logs`, `history`, `changes`, `journal`) need
    of a plan: kept beside the plan in the cache, so they need not import the model to read it."""

    state_dir: Path
    timezone: tzinfo
    jobs: frozenset[str]
    keep_runs: int  # settings.log_retention.runs
    summary: str = ""  # `validate`'s verdict: `3 jobs; 2 scheduled; 1 manual; engines: rsync`
    acting_as: str | None = None  # in a fleet plan, the line saying which host this is
    remarks: bool = False  # notes or warnings to show (validate then loads the plan itself)


@dataclass(frozen=True)
class LoadedPlan:
    """A valid plan and what was learnt loading it."""

    path: Path
    display_path: str
    plan: Plan
    timezone: tzinfo
    digest: str
    # `validate --no-env`: what could not be checked without the environment's values
    notes: tuple[Problem, ...] = ()
    # What is valid but likely a mistake (a `hosts:` selector matching no host of `settings.fleet`)
    warnings: tuple[Problem, ...] = ()
    # The host this plan acts as, and the jobs of the file whose `hosts:` do not select it
    # (`plan.jobs` holds this host's jobs only). See docs/fleet.md.
    host: str = ""
    elsewhere: tuple[str, ...] = ()
    machine: str = ""  # this machine's own name (`host`, unless `plan --host` previews another)
    # The plan cache's key it was loaded under (plan/cache.py); "" when the plan is not kept
    key: str = ""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.plan.settings.state_dir)

    @property
    def site_dir(self) -> Path:
        return self.resolve(self.plan.settings.site_dir)

    @property
    def jobs(self) -> dict[str, Job]:
        return self.plan.jobs

    @property
    def in_fleet(self) -> bool:
        """Whether the plan is written for many machines (any `hosts:`, `settings.fleet` or
        `settings.publish`): commands then say which host they act as."""
        settings = self.plan.settings
        return bool(self.elsewhere or settings.fleet or settings.publish or settings.host) or any(
            job.hosts is not None for job in self.plan.jobs.values()
        )

    def acting_as(self) -> str:
        """One line for commands to print in a fleet plan: the host and how many jobs it runs."""
        total = len(self.jobs) + len(self.elsewhere)
        return f"acting as host {self.host}: {len(self.jobs)} of {total} jobs run here"

    def named(self, display: str) -> LoadedPlan:
        """The same plan, given as `display` (`backups.yaml`, or its absolute path) this time."""
        from dataclasses import replace

        renamed = replace(self, display_path=display)
        for made in ("_normalized", "_default_settings"):  # caches, not state: carried over
            if made in self.__dict__:
                object.__setattr__(renamed, made, self.__dict__[made])
        return renamed

    def facts(self) -> PlanFacts:
        return PlanFacts(
            self.state_dir,
            self.timezone,
            frozenset(self.jobs),
            self.plan.settings.log_retention.runs,
            self.summary(),
            self.acting_as() if self.in_fleet else None,
            bool(self.notes or self.warnings),
        )

    def summary(self) -> str:
        """How many jobs, scheduled, manual and disabled, and their engines (what `validate` says)."""
        jobs = self.jobs
        scheduled = sum(1 for job in jobs.values() if job.schedule)
        disabled = sum(1 for job in jobs.values() if not job.enabled)
        engines = sorted({job.engine for job in jobs.values()})
        parts = [f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}"]
        if jobs:
            parts.append(f"{scheduled} scheduled")
            parts.append(f"{len(jobs) - scheduled} manual")
        if disabled:
            parts.append(f"{disabled} disabled")
        if engines:
            parts.append("engines: " + ", ".join(engines))
        return "; ".join(parts)

    def resolve(self, text: str) -> Path:
        """Expand `~` and resolve `text` against the plan's folder."""
        from backupplan.plan.locations import resolve_local

        return resolve_local(text, self.base_dir)

    def normalized(self) -> dict[str, Any]:
        """The plan as plain JSON data with secrets masked: what `plan` diffs and `apply` records.
        Made once (the site asks after every run event; 18 ms for 1,000 jobs): read it, do not
        change it."""
        cached: dict[str, Any] | None = self.__dict__.get("_normalized")
        if cached is None:
            from backupplan.secrets import mask

            cached = _map_strings(self.plan.model_dump(mode="json", exclude={"defaults"}), mask)
            object.__setattr__(self, "_normalized", cached)  # a cache, not state: frozen otherwise
        return cached

    def default_settings(self) -> dict[str, Any]:
        """Every setting's default as plain JSON data (the site's settings page marks what the
        plan changed). Made once, and kept with the plan in the cache: read it, do not change it."""
        cached: dict[str, Any] | None = self.__dict__.get("_default_settings")
        if cached is None:
            from backupplan.plan.model import Settings

            cached = Settings().model_dump(mode="json")
            object.__setattr__(self, "_default_settings", cached)
        return cached


def _map_strings(data: Any, function: Any) -> Any:
    if isinstance(data, dict):
        return {key: _map_strings(value, function) for key, value in data.items()}
    if isinstance(data, list):
        return [_map_strings(value, function) for value in data]
    return function(data) if isinstance(data, str) else data
