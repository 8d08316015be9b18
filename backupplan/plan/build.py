"""Building a plan from its text: parse, expand `${VAR}`, merge defaults, validate; every problem
located. This is the expensive part of loading (ruamel, pydantic, APScheduler's cron parser);
backupplan.plan.load calls it only when the cache (plan/cache.py) has no valid copy.

Parsing first uses the fast C loader. Only when something is wrong is the file parsed again in
ruamel's round-trip mode, which knows the line and column of every key and value, so that every
problem can be reported as `file:line:col: path: message (hint)`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any

from backupplan.errors import PlanError, Problem
from backupplan.plan import checks
from backupplan.plan.interpolate import InterpolationProblem, interpolate_tree
from backupplan.plan.loaded import LoadedPlan, named_host
from backupplan.plan.locate import Locator, dotted, find_tag
from backupplan.plan.messages import suggest
from backupplan.plan.model import Job, Plan, Settings, selects
from backupplan.plan.parse import parse_yaml
from backupplan.plan.sections import (
    inherit,
    kind,
    validate_defaults,
    validate_job,
    validate_settings,
)
from backupplan.secrets import SecretRegistry

TOP_LEVEL_KEYS = ("version", "settings", "defaults", "jobs")
SUPPORTED_VERSION = 1
_UNPARSED = object()


def build_plan(
    text: str,
    absolute: Path,
    display: str,
    *,
    environ: Mapping[str, str],
    secrets: SecretRegistry,
    without_env: bool = False,
    host: str | None = None,
    locate_warnings: bool = False,
) -> LoadedPlan:
    """Given the plan file's text, return the LoadedPlan; raise PlanError listing every problem.
    The arguments are those of backupplan.plan.load.load_plan."""
    if "%YAML" not in text:
        try:
            fast = parse_yaml(text, display, round_trip=False)
        except PlanError:
            fast = _UNPARSED  # the round-trip parser below gives the better-worded error
        if fast is not _UNPARSED:
            result = _build(fast, display, absolute, environ, secrets, None, without_env, host)
            if isinstance(result, LoadedPlan) and not (result.warnings and locate_warnings):
                return result
            if isinstance(result, LoadedPlan):
                # warnings to show: parse again to give each its line
                located = parse_yaml(text, display, round_trip=True)
                relocated = _build(
                    located, display, absolute, environ, secrets, Locator(located), without_env, host
                )
                return relocated if isinstance(relocated, LoadedPlan) else result
    # Something is wrong: parse again keeping positions, and report every problem with its place.
    located = parse_yaml(text, display, round_trip=True)
    tagged = find_tag(located)
    if tagged is not None:
        line, column = Locator(located).locate(tagged[0])
        raise PlanError(
            [
                Problem(
                    display,
                    "YAML tags are not allowed",
                    line,
                    column,
                    dotted(tagged[0]),
                    hint=f"remove the tag {tagged[1]}; write plain values",
                )
            ]
        )
    result = _build(located, display, absolute, environ, secrets, Locator(located), without_env, host)
    if isinstance(result, LoadedPlan):  # pragma: no cover - both parsers agree on valid input
        return result
    raise PlanError(sorted(result, key=lambda problem: (problem.line or 0, problem.column or 0)))


def _build(
    document: Any,
    display: str,
    absolute: Path,
    environ: Mapping[str, str],
    secrets: SecretRegistry,
    locator: Locator | None,
    without_env: bool = False,
    host: str | None = None,
) -> LoadedPlan | list[Problem]:
    problems: list[Problem] = []
    notes: list[Problem] = []
    warnings: list[Problem] = []
    unexpanded: set[tuple[str | int, ...]] = set()
    unset: dict[tuple[str | int, ...], set[str]] | None = {} if without_env else None

    def warn(path: tuple[str | int, ...], message: str, hint: str) -> None:
        line, column = locator.locate(path) if locator else (None, None)
        warnings.append(Problem(display, message, line, column, dotted(path), hint))

    def add(path: tuple[str | int, ...], message: str, hint: str = "", *, at_key: bool = False) -> None:
        if path in unexpanded:
            return  # the value could not be expanded; that problem is already reported
        line, column = locator.locate(path, at_key=at_key) if locator else (None, None)
        elsewhere = _unset_under(foreign_unset, path)
        if elsewhere:
            variables = ", ".join(f"${{{name}}}" for name in sorted(elsewhere))
            text = f"not checked on this host: {variables} not set, used by a job of other hosts ({message})"
            notes.append(Problem(display, text, line, column, dotted(path), "checked where it runs"))
            return
        names = _unset_under(unset, path)
        if names:
            variables = ", ".join(f"${{{name}}}" for name in sorted(names))
            text = f"not checked without the environment: {variables} not set ({message})"
            notes.append(Problem(display, text, line, column, dotted(path), "checked where it is set"))
            return
        problems.append(Problem(display, message, line, column, dotted(path), hint))

    if document is None:
        problems.append(
            Problem(
                display,
                "the plan is empty",
                1,
                1,
                hint="start from `backupplan init`, or write `version: 1` and a `jobs:` mapping",
            )
        )
        return problems
    if not isinstance(document, Mapping):
        problems.append(
            Problem(
                display,
                f"the plan must be a mapping, not {kind(document)}",
                1,
                1,
                hint="the top level holds version, settings, defaults and jobs",
            )
        )
        return problems

    def report(problem: InterpolationProblem) -> None:
        add(problem.path, problem.message, problem.hint)
        unexpanded.add(problem.path)

    # The jobs of other hosts may use variables only set there (their secrets): unset ones are
    # placeholders here, as with --no-env, and what they hold is checked where the job runs.
    foreign_unset: dict[tuple[str | int, ...], set[str]] = {}
    foreign = _foreign_jobs(document, environ, host)
    data: dict[str, Any] = {}
    for key, value in document.items():
        if key == "jobs" and foreign and isinstance(value, Mapping):
            data[key] = {
                job_id: interpolate_tree(
                    job,
                    environ,
                    secrets,
                    report,
                    ("jobs", job_id),
                    foreign_unset if job_id in foreign else unset,
                )
                for job_id, job in value.items()
            }
        else:
            data[key] = interpolate_tree(value, environ, secrets, report, (key,), unset)

    for key in data:
        if key not in TOP_LEVEL_KEYS:
            add((key,), f"unknown key {key!r}", suggest(key, TOP_LEVEL_KEYS), at_key=True)
    version = data.get("version")
    if "version" not in data:
        add((), "missing required key 'version'", "add `version: 1` at the top of the file")
    elif version != SUPPORTED_VERSION or isinstance(version, bool):
        add(
            ("version",),
            f"unsupported version {version!r}",
            f"this backupplan reads version {SUPPORTED_VERSION}; a newer plan needs a newer backupplan",
        )

    settings = validate_settings(data.get("settings"), add)
    timezone = _timezone(settings)
    context = {"timezone": timezone}

    defaults = data.get("defaults")
    if defaults is None:
        defaults = {}
    elif not isinstance(defaults, Mapping):
        add(
            ("defaults",),
            f"expected a mapping of job fields, not {kind(defaults)}",
            "e.g. defaults: {engine: rsync, schedule: '@daily'}",
        )
        defaults = {}
    else:
        validate_defaults(defaults, add, context)

    jobs: dict[str, Job] = {}
    raw_jobs = data.get("jobs")
    if raw_jobs is None:
        raw_jobs = {}
    elif not isinstance(raw_jobs, Mapping):
        add(
            ("jobs",),
            f"expected a mapping of job id to job, not {kind(raw_jobs)}",
            "write `jobs:` then one `id:` per job, each with its fields indented below it",
        )
        raw_jobs = {}
    for job_id, raw in raw_jobs.items():
        job = validate_job(job_id, raw, defaults, add, context)
        if job is not None:
            job = inherit(job, settings or Settings())
            for check in checks.check_job(str(job_id), job, absolute.parent):
                add(("jobs", str(job_id), *check.path), check.message, check.hint)
            jobs[str(job_id)] = job

    fleet = settings.fleet.hosts if settings is not None and settings.fleet is not None else []
    for job_id, check in checks.check_jobs(jobs, absolute.parent, fleet):
        add(("jobs", job_id, *check.path), check.message, check.hint)
    if problems or settings is None:
        return problems
    for job_id, check in checks.check_fleet(jobs, settings):
        warn(("jobs", job_id, *check.path) if job_id else check.path, check.message, check.hint)
    machine = settings.host or named_host(environ)
    acting = host or machine
    here = {job_id: job for job_id, job in jobs.items() if selects(job.hosts, acting)}
    plan = Plan(version=1, settings=settings, defaults=dict(defaults), jobs=here)
    if unset:
        names = ", ".join(f"${{{name}}}" for name in sorted(set().union(*unset.values())))
        notes.append(Problem(display, f"not set here (their values were not checked): {names}"))
    if foreign_unset:
        names = ", ".join(f"${{{name}}}" for name in sorted(set().union(*foreign_unset.values())))
        notes.append(Problem(display, f"not set on this host, used only by jobs of other hosts: {names}"))
    return LoadedPlan(
        path=absolute,
        display_path=display,
        plan=plan,
        timezone=timezone,
        digest=_digest(plan),
        notes=tuple(notes),
        warnings=tuple(warnings),
        host=acting,
        elsewhere=tuple(job_id for job_id in jobs if job_id not in here),
        machine=machine,
    )


def _unset_under(
    unset: dict[tuple[str | int, ...], set[str]] | None, path: tuple[str | int, ...]
) -> set[str]:
    """The unset variables in the value at `path` or below it (a job's whole mapping, say); a
    problem of the plan's shape (at `jobs` or `settings` itself) is never put down to them."""
    if not unset or len(path) < 2:
        return set()
    found: set[str] = set()
    for where, names in unset.items():
        if where[: len(path)] == path or path[: len(where)] == where:
            found |= names
    return found


def _timezone(settings: Settings | None) -> tzinfo:
    from backupplan.plan.schedule import resolve_timezone

    return resolve_timezone(settings.timezone if settings else "UTC")


def _digest(plan: Plan) -> str:
    normal = json.dumps(
        plan.model_dump(mode="json", exclude={"defaults"}), sort_keys=True, separators=(",", ":")
    )
    return "sha256:" + hashlib.sha256(normal.encode()).hexdigest()


def _foreign_jobs(document: Mapping[str, Any], environ: Mapping[str, str], host: str | None) -> set[str]:
    """The ids of the jobs that plainly run on other hosts: their `hosts:` (or the defaults')
    is a list of plain names and globs that does not select the host this plan acts as."""
    jobs, defaults = document.get("jobs"), document.get("defaults")
    if not isinstance(jobs, Mapping):
        return set()
    settings = document.get("settings")
    named = settings.get("host") if isinstance(settings, Mapping) else None
    if host is None and isinstance(named, str) and "${" not in named:
        host = named
    acting = host or named_host(environ)
    foreign = set()
    for job_id, job in jobs.items():
        selectors = job.get("hosts") if isinstance(job, Mapping) and "hosts" in job else None
        if selectors is None and isinstance(defaults, Mapping):
            selectors = defaults.get("hosts")
        plain = isinstance(selectors, list) and all(
            isinstance(item, str) and "${" not in item for item in selectors
        )
        if plain and selectors and not selects(selectors, acting):
            foreign.add(str(job_id))
    return foreign
