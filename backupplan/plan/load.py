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
from backupplan.plan.messages import problems_from_validation, suggest
from backupplan.plan.model import JOB_ID, JOB_ID_HINT, Job, Plan, Settings
from backupplan.plan.parse import parse_yaml, read_plan_text
from backupplan.secrets import SecretRegistry, registry

TOP_LEVEL_KEYS = ("version", "settings", "defaults", "jobs")
SUPPORTED_VERSION = 1
# Stand-ins for the required job fields, so that `defaults` can be checked on its own.
_UNPARSED = object()
_DEFAULTS_STUB = {
    "engine": "rsync",
    "source": "/defaults-check-source",
    "destination": "/defaults-check-destination",
}


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
) -> LoadedPlan:
    """Given the plan's path, return the LoadedPlan; raise PlanError listing every problem.

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
            result = _build(fast, display, absolute, environ, secrets, locator=None, without_env=without_env)
            if isinstance(result, LoadedPlan):
                return result
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
    result = _build(
        located, display, absolute, environ, secrets, locator=Locator(located), without_env=without_env
    )
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
) -> LoadedPlan | list[Problem]:
    problems: list[Problem] = []
    notes: list[Problem] = []
    unexpanded: set[tuple[str | int, ...]] = set()
    unset: dict[tuple[str | int, ...], set[str]] | None = {} if without_env else None

    def add(path: tuple[str | int, ...], message: str, hint: str = "", *, at_key: bool = False) -> None:
        if path in unexpanded:
            return  # the value could not be expanded; that problem is already reported
        line, column = locator.locate(path, at_key=at_key) if locator else (None, None)
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
                f"the plan must be a mapping, not {_kind(document)}",
                1,
                1,
                hint="the top level holds version, settings, defaults and jobs",
            )
        )
        return problems

    def report(problem: InterpolationProblem) -> None:
        add(problem.path, problem.message, problem.hint)
        unexpanded.add(problem.path)

    data: dict[str, Any] = interpolate_tree(document, environ, secrets, report, unset=unset)  # type: ignore[assignment]

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

    settings = _validate_settings(data.get("settings"), add)
    timezone = _timezone(settings)
    context = {"timezone": timezone}

    defaults = data.get("defaults")
    if defaults is None:
        defaults = {}
    elif not isinstance(defaults, Mapping):
        add(
            ("defaults",),
            f"expected a mapping of job fields, not {_kind(defaults)}",
            "e.g. defaults: {engine: rsync, schedule: '@daily'}",
        )
        defaults = {}
    else:
        _validate_defaults(defaults, add, context)

    jobs: dict[str, Job] = {}
    raw_jobs = data.get("jobs")
    if raw_jobs is None:
        raw_jobs = {}
    elif not isinstance(raw_jobs, Mapping):
        add(
            ("jobs",),
            f"expected a mapping of job id to job, not {_kind(raw_jobs)}",
            "write `jobs:` then one `id:` per job, each with its fields indented below it",
        )
        raw_jobs = {}
    for job_id, raw in raw_jobs.items():
        job = _validate_job(job_id, raw, defaults, add, context)
        if job is not None:
            job = _inherit(job, settings or Settings())
            for check in checks.check_job(str(job_id), job, absolute.parent):
                add(("jobs", str(job_id), *check.path), check.message, check.hint)
            jobs[str(job_id)] = job

    for job_id, check in checks.check_jobs(jobs, absolute.parent):
        add(("jobs", job_id, *check.path), check.message, check.hint)
    if problems or settings is None:
        return problems
    plan = Plan(version=1, settings=settings, defaults=dict(defaults), jobs=jobs)
    if unset:
        names = ", ".join(f"${{{name}}}" for name in sorted(set().union(*unset.values())))
        notes.append(Problem(display, f"not set here (their values were not checked): {names}"))
    return LoadedPlan(
        path=absolute,
        display_path=display,
        plan=plan,
        timezone=timezone,
        digest=_digest(plan),
        notes=tuple(notes),
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


def _validate_settings(raw: Any, add: Any) -> Settings | None:
    from pydantic import ValidationError

    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        add(("settings",), f"expected a mapping, not {_kind(raw)}", "e.g. settings: {max_parallel: 2}")
        return None
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        for problem in problems_from_validation(error, ("settings",), Settings):
            add(problem.path, problem.message, problem.hint, at_key=problem.at_key)
        return None


def _validate_defaults(defaults: Mapping[str, Any], add: Any, context: dict[str, Any]) -> None:
    from pydantic import ValidationError

    trial = {**_DEFAULTS_STUB, **defaults}
    try:
        Job.model_validate(trial, context=context)
    except ValidationError as error:
        for problem in problems_from_validation(error, ("defaults",), Job):
            if len(problem.path) > 1 and problem.path[1] in defaults:
                add(problem.path, problem.message, problem.hint, at_key=problem.at_key)


def _validate_job(
    job_id: Any,
    raw: Any,
    defaults: Mapping[str, Any],
    add: Any,
    context: dict[str, Any],
) -> Job | None:
    from pydantic import ValidationError

    path: tuple[str | int, ...] = ("jobs", str(job_id))
    valid_id = isinstance(job_id, str) and JOB_ID.match(job_id) is not None
    if not valid_id and not isinstance(job_id, str):
        add(path, f"job id {job_id} is not text", f"quote it: '{job_id}'", at_key=True)
    elif not valid_id:
        add(path, f"bad job id {str(job_id)!r}", JOB_ID_HINT + f", e.g. {_slug(str(job_id))!r}", at_key=True)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        add(
            path,
            f"expected the job's fields as a mapping, not {_kind(raw)}",
            "indent engine, source, destination … below the job id",
        )
        return None
    merged = merge_defaults(defaults, raw)
    try:
        job = Job.model_validate(merged, context=context)
    except ValidationError as error:
        for problem in problems_from_validation(error, path, Job):
            relative = problem.path[len(path) :]
            if problem.kind != "missing" and _from_defaults(relative, raw, defaults):
                continue  # reported once, at defaults
            add(problem.path, problem.message, problem.hint, at_key=problem.at_key)
        return None
    return job if valid_id else None


def merge_defaults(defaults: Mapping[str, Any], job: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `defaults` under `job`: mappings merge key by key; lists and values from the job win."""
    merged: dict[str, Any] = dict(defaults)
    for key, value in job.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_defaults(below, value)
        else:
            merged[key] = value
    return merged


def _from_defaults(relative: tuple[str | int, ...], job: Any, defaults: Any) -> bool:
    for part in relative:
        if isinstance(job, Mapping):
            if part in job:
                job = job[part]
                defaults = defaults.get(part) if isinstance(defaults, Mapping) else None
                continue
            return isinstance(defaults, Mapping) and part in defaults
        return False
    return False


def _inherit(job: Job, settings: Settings) -> Job:
    """Fill the job fields that default to a setting."""
    update: dict[str, Any] = {}
    if job.bandwidth is None:
        update["bandwidth"] = settings.bandwidth
    if job.timeout is None:
        update["timeout"] = settings.timeout
    if job.retries is None:
        update["retries"] = settings.retries
    return job.model_copy(update=update) if update else job


def _timezone(settings: Settings | None) -> tzinfo:
    from backupplan.plan.schedule import resolve_timezone

    return resolve_timezone(settings.timezone if settings else "UTC")


def _digest(plan: Plan) -> str:
    normal = json.dumps(
        plan.model_dump(mode="json", exclude={"defaults"}), sort_keys=True, separators=(",", ":")
    )
    return "sha256:" + hashlib.sha256(normal.encode()).hexdigest()


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _slug(text: str) -> str:
    import re

    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return (slug or "job")[:64]
