"""The plan reference (docs/plan-reference.md), generated from the models.

Regenerate it with `python -m backupplan.plan.reference > docs/plan-reference.md`; a test fails when
the committed file and the models disagree.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from backupplan.plan.model import (
    Dump,
    Fleet,
    Guard,
    Heartbeat,
    Hook,
    Hooks,
    Job,
    Keep,
    LogRetention,
    NetworkCheck,
    NotifyTarget,
    Plan,
    Preserve,
    Publish,
    Retries,
    Settings,
    Snapshots,
    Ssh,
    Versions,
)

SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    ("Top level", Plan, ""),
    ("settings", Settings, "settings."),
    ("jobs.&lt;id&gt; (and defaults)", Job, "jobs.<id>."),
    ("retries", Retries, "retries."),
    ("network_check", NetworkCheck, "settings.network_check."),
    ("log_retention", LogRetention, "settings.log_retention."),
    ("notify entries", NotifyTarget, "notify[]."),
    ("heartbeat", Heartbeat, "settings.heartbeat."),
    ("fleet", Fleet, "settings.fleet."),
    ("publish", Publish, "settings.publish."),
    ("guard", Guard, "jobs.<id>.guard."),
    ("preserve", Preserve, "jobs.<id>.preserve."),
    ("ssh", Ssh, "jobs.<id>.ssh."),
    ("snapshots", Snapshots, "jobs.<id>.snapshots."),
    ("snapshots.keep", Keep, "jobs.<id>.snapshots.keep."),
    ("versions", Versions, "jobs.<id>.versions."),
    ("hooks", Hooks, "jobs.<id>.hooks."),
    ("hook entries", Hook, "hooks.<when>[]."),
    ("dumps entries", Dump, "jobs.<id>.dumps[]."),
]

INTRO = """\
# Plan reference

Generated from the plan model (`python -m backupplan.plan.reference > docs/plan-reference.md`);
`backupplan schema` prints the same information as JSON Schema.

Sizes take units: `500KiB`, `5MiB`, `5MB`, `1GiB` (bare letters `K`, `M`, `G` are binary, like rsync;
`KB`, `MB`, `GB` are decimal); a bare number is only allowed for `0`. Durations take units: `30s`,
`5m`, `4h`, `1d`, `2w`, `1h30m`. Any string value may use `${VAR}` or `${VAR:-default}`; values read
from the environment are secret and never shown. `$${` writes a literal `${`.

A hook entry is an argv list (`[pg_dump, -f, /tmp/db.sql]`), a single program without arguments
(`/usr/local/bin/prepare`), or a mapping `{argv: [...]}` / `{shell: "..."}` with an optional
`timeout`. A notify entry is an apprise URL, or a mapping `{url: ..., on: [...]}`.
"""


def render() -> str:
    """Return the whole reference as Markdown."""
    parts = [INTRO]
    for title, model, prefix in SECTIONS:
        parts.append(f"\n## {title}\n")
        if model.__doc__:
            parts.append(f"\n{model.__doc__.strip()}\n")
        parts.append("\n| key | type | default | description | example |\n|---|---|---|---|---|\n")
        for name, info in model.model_fields.items():
            default = _default(info.default, info.default_factory, info.is_required())
            example = json.dumps(info.examples[0]) if info.examples else ""
            kind = _type(info.annotation, info.metadata)
            description = _cell(info.description or "")
            parts.append(f"| `{prefix}{name}` | {kind} | {default} | {description} | `{_cell(example)}` |\n")
    return "".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(default: Any, factory: Any, required: bool) -> str:
    if required:
        return "**required**"
    if factory is not None:
        value = factory()
        if isinstance(value, BaseModel):
            return "see below"
        return f"`{json.dumps(value)}`"
    if default is None or default is PydanticUndefined:
        return "none"
    if isinstance(default, float) and default.is_integer():
        from backupplan.units import canonical_duration

        return f"`{canonical_duration(default)}`"
    return f"`{json.dumps(default)}`"


def _type(annotation: Any, metadata: list[Any] | None = None) -> str:
    serializers = [getattr(item, "func", None) for item in metadata or []]
    from backupplan.units import canonical_duration, canonical_size

    if canonical_size in serializers:
        return "size"
    if canonical_duration in serializers:
        return "duration"
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(arguments[0], list(arguments[1:]))
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in arguments)
    if origin in (types.UnionType, typing.Union):
        kinds = [_type(argument) for argument in arguments if argument is not type(None)]
        return " \\| ".join(kinds) + (" or null" if type(None) in arguments else "")
    if origin is list:
        return f"list of {_type(arguments[0])}"
    if origin is dict:
        return f"mapping of {_type(arguments[0])} to {_type(arguments[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if annotation is Any:
        return "any"
    return {str: "text", int: "integer", bool: "true/false", float: "number"}.get(annotation, str(annotation))


if __name__ == "__main__":
    print(render(), end="")
