"""`guard:` of a job, and the source checks: what keeps a run from destroying the last good copy
(an unmounted source disk, a mass deletion, every file rewritten). See docs/guard.md."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from backupplan.plan.model.fields import Strict

_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
LIMIT_HINT = "write a share of the files at the destination, like 10%, or a number of files, like 500"


def _limit(value: object) -> float | int:
    """A limit is a percentage (returned as a float in [0, 100]) or a count of files (an int)."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "guard_limit", "{reason}", {"reason": "a limit is not true or false", "hint": LIMIT_HINT}
        )
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and (match := _LIMIT.match(value)):
        share = float(match[1])
        if share <= 100:
            return share
    raise PydanticCustomError(
        "guard_limit", "{reason}", {"reason": f"{value!r} is not a limit", "hint": LIMIT_HINT}
    )


def _show(value: float | int) -> str | int:
    return value if isinstance(value, int) else f"{value:g}%"


Limit = Annotated[
    float | int,
    BeforeValidator(_limit),
    PlainSerializer(_show),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
                {"type": "integer", "minimum": 0},
            ]
        }
    ),
]


def limit_count(limit: float | int, files: int) -> int:
    """Given a limit and the number of files at the destination, return the most files a run may
    delete (or rewrite) without being held: a count as it is, a share rounded down (never below 1)."""
    if isinstance(limit, int):
        return limit
    return max(1, int(files * limit / 100))


class Guard(Strict):
    """Limits that hold a run before it damages the last good copy: more deletions or rewrites
    than this stop the run with the status `held` until `backupplan run JOB --accept-changes`."""

    max_delete: Limit = Field(
        10.0,
        description="Most files a run may delete at the destination: a share of the files there "
        "(10%) or a number. Checked before anything is deleted.",
        examples=["10%"],
    )
    max_change: Limit = Field(
        50.0,
        description="Most files a run may rewrite (existing files whose content changed): a share "
        "of the files there or a number. A source whose files were all rewritten (ransomware, a "
        "botched script) is held instead of copied over the backup.",
        examples=["50%"],
    )
    empty_source: bool = Field(
        False,
        description="Allow an empty source over a non-empty destination (refused by default: "
        "it is what an unmounted disk looks like).",
        examples=[False],
    )


def _guard(value: Any) -> Any:
    """`guard: off` (or false) turns every guard off; a mapping sets limits."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    if value is True or (isinstance(value, str) and value.strip().lower() == "on"):
        return {}
    return value


GuardSetting = Annotated[Guard | None, BeforeValidator(_guard)]
