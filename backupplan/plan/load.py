"""Load a plan file: the validated plan from the cache when nothing it depends on changed
(plan/cache.py), else built from the text (plan/build.py: parse, expand `${VAR}`, merge defaults,
validate, every problem located).

This module is the one place that decides what loading imports: the cache's hit needs only the
model classes (pydantic, with their validators built on first use), and `load_facts` (commands
that only read the state) not even those; ruamel, the validators, the checks and APScheduler's
cron parser are imported by plan/build.py, only on a miss.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from backupplan.plan import cache
from backupplan.plan.loaded import LoadedPlan, PlanFacts
from backupplan.plan.parse import read_plan_text

if TYPE_CHECKING:
    from backupplan.secrets import SecretRegistry

__all__ = ["LoadedPlan", "PlanFacts", "kept_facts", "kept_key", "load_facts", "load_plan"]


def load_plan(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    secrets: SecretRegistry | None = None,
    without_env: bool = False,
    host: str | None = None,
    locate_warnings: bool = False,
) -> LoadedPlan:
    """Given the plan's path, return the LoadedPlan; raise PlanError listing every problem.
    `locate_warnings` (validate, which shows them): each warning gets its line, which costs a
    second parse of a plan that has any.

    `host` (`plan --host NAME`) acts as another machine; else the host is `settings.host`, else
    $BACKUPPLAN_HOST, else the hostname, and `plan.jobs` keeps the jobs whose `hosts:` select it.

    `without_env` (`validate --no-env`, for CI and pre-commit, which hold no secrets): an unset
    ${VAR} is a placeholder, and a problem with a value that holds one is a note in
    `LoadedPlan.notes` instead (its value could not be checked), not an error.

    `environ` and `secrets` default to the process's environment and secret registry; the cache is
    used only with those defaults."""
    display = os.fspath(path)
    absolute = Path(display).expanduser().absolute()
    text = read_plan_text(absolute, display)
    kept = environ is None and secrets is None and not without_env and host is None and cache.cacheable(text)
    plan_key = cache.key(absolute, text) if kept else ""
    if kept:
        found = cache.read(absolute, display, plan_key)
        if found is not None and not (found.warnings and locate_warnings):
            return found
    from backupplan.plan.build import build_plan
    from backupplan.secrets import registry

    loaded = build_plan(
        text,
        absolute,
        display,
        environ=os.environ if environ is None else environ,
        secrets=registry if secrets is None else secrets,
        without_env=without_env,
        host=host,
        locate_warnings=locate_warnings,
    )
    if kept:
        loaded = replace(loaded, key=plan_key)
        cache.keep(loaded)
    return loaded


def load_facts(path: str | os.PathLike[str]) -> PlanFacts:
    """What the commands that only read the state need of the plan (its state dir, time zone, job
    ids): from the cache without importing the model when the plan is kept there, else from
    `load_plan` (which reports every problem of a plan that is not valid)."""
    return kept_facts(path) or load_plan(path).facts()


def kept_facts(path: str | os.PathLike[str]) -> PlanFacts | None:
    """The facts of the plan at `path` when the cache holds it as it is now, else None."""
    kept = kept_key(path)
    return kept[1] if kept is not None else None


def kept_key(path: str | os.PathLike[str]) -> tuple[str, PlanFacts] | None:
    """The cache key of the plan at `path` as it is now (everything a loaded plan depends on) and
    its facts, when the cache holds it; else None (what is kept for the plan's state, such as the
    status document of status/kept.py, is kept under that key)."""
    display = os.fspath(path)
    absolute = Path(display).expanduser().absolute()
    text = read_plan_text(absolute, display)
    if not cache.cacheable(text):
        return None
    plan_key = cache.key(absolute, text)
    facts = cache.read_facts(absolute, plan_key)
    return (plan_key, facts) if facts is not None else None
