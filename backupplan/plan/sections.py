"""Validate each section of a plan (settings, defaults, every job) and merge `defaults` under
each job: the steps `load_plan` takes, each reporting its problems through `add(path, message,
hint)`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backupplan.plan.messages import problems_from_validation
from backupplan.plan.model import JOB_ID, JOB_ID_HINT, Job, Settings

# Stand-ins for the required job fields, so that `defaults` can be checked on its own.
DEFAULTS_STUB = {
    "engine": "rsync",
    "source": "/defaults-check-source",
    "destination": "/defaults-check-destination",
}


def validate_settings(raw: Any, add: Any) -> Settings | None:
    from pydantic import ValidationError

    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        add(("settings",), f"expected a mapping, not {kind(raw)}", "e.g. settings: {max_parallel: 2}")
        return None
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        for problem in problems_from_validation(error, ("settings",), Settings):
            add(problem.path, problem.message, problem.hint, at_key=problem.at_key)
        return None


def validate_defaults(defaults: Mapping[str, Any], add: Any, context: dict[str, Any]) -> None:
    from pydantic import ValidationError

    trial = {**DEFAULTS_STUB, **defaults}
    try:
        Job.model_validate(trial, context=context)
    except ValidationError as error:
        for problem in problems_from_validation(error, ("defaults",), Job):
            if len(problem.path) > 1 and problem.path[1] in defaults:
                add(problem.path, problem.message, problem.hint, at_key=problem.at_key)


def validate_job(
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
            f"expected the job's fields as a mapping, not {kind(raw)}",
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


def inherit(job: Job, settings: Settings) -> Job:
    """Fill the job fields that default to a setting."""
    update: dict[str, Any] = {}
    if job.bandwidth is None:
        update["bandwidth"] = settings.bandwidth
    if job.timeout is None:
        update["timeout"] = settings.timeout
    if job.retries is None:
        update["retries"] = settings.retries
    return job.model_copy(update=update) if update else job


def kind(value: Any) -> str:
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
