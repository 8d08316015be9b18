"""Load a plan file: read, parse, expand `${VAR}`, merge defaults, validate; every problem located.

Parsing first uses the fast C loader. Only when something is wrong is the file parsed again in
ruamel's round-trip mode, which knows the line and column of every key and value, so that every
problem can be reported as `file:line:col: path: message (hint)`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from backupplan.errors import PlanError, Problem
from backupplan.plan import checks
from backupplan.plan.interpolate import InterpolationProblem, interpolate_tree
from backupplan.plan.locate import Locator, dotted, find_tag
from backupplan.plan.messages import suggest
from backupplan.plan.model import Job, Plan, Settings, selects
from backupplan.plan.parse import parse_yaml, read_plan_text
from backupplan.plan.sections import (
    inherit,
    kind,
    validate_defaults,
    validate_job,
    validate_settings,
)
from backupplan.secrets import SecretRegistry, registry

TOP_LEVEL_KEYS = ("version", "settings", "defaults", "jobs")
SUPPORTED_VERSION = 1
_UNPARSED = object()


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


def _map_strings(data: Any, function: Any) -> Any:
    if isinstance(data, dict):
        return {key: _map_strings(value, function) for key, value in data.items()}
    if isinstance(data, list):
        return [_map_strings(value, function) for value in data]
    return function(data) if isinstance(data, str) else data


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
    `LoadedPlan.notes` instead (its value could not be checked), not an error."""
    display = os.fspath(path)
    absolute = Path(display).expanduser().absolute()
    text = read_plan_text(absolute, display)
    environ = os.environ if environ is None else environ
    secrets = registry if secrets is None else secrets

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
    machine = settings.host or _named_host(environ)
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
    acting = host or _named_host(environ)
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


def _named_host(environ: Mapping[str, str]) -> str:
    """$BACKUPPLAN_HOST (of the plan's environment, else the process's), else the hostname."""
    return environ.get("BACKUPPLAN_HOST") or os.environ.get("BACKUPPLAN_HOST") or _hostname()


def _hostname() -> str:
    import socket

    return socket.gethostname()
