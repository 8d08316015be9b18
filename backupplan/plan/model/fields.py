"""Building blocks of every plan section: the strict base model, sizes and durations with units,
and the shapes of job ids and environment variable names."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from backupplan.units import (
    DURATION_HINT,
    SIZE_HINT,
    canonical_duration,
    canonical_size,
    parse_duration,
    parse_size,
)

JOB_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


JOB_ID_HINT = "job ids are 1-64 lower-case letters, digits, '-' and '_', starting with a letter or digit"


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _size(value: object) -> int:
    try:
        return parse_size(value)
    except ValueError as error:
        raise PydanticCustomError("size", "{reason}", {"reason": str(error), "hint": SIZE_HINT}) from None


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise PydanticCustomError(
            "duration", "{reason}", {"reason": str(error), "hint": DURATION_HINT}
        ) from None


_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kKmMgGtTpP]i?)?[bB]?\s*(/s)?\s*$"},
        {"const": 0},
    ]
}


_DURATION_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*)+$"}, {"const": 0}]
}


Size = Annotated[
    int,
    BeforeValidator(_size),
    PlainSerializer(canonical_size, return_type=str),
    WithJsonSchema(_SIZE_SCHEMA),
]


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(canonical_duration, return_type=str),
    WithJsonSchema(_DURATION_SCHEMA),
]


class Strict(BaseModel):
    """Base for every plan section: unknown keys are errors, assignments are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
