"""pydantic validation errors turned into short, human messages with a hint."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

_PLAIN = {
    "bool_parsing": ("expected true or false", "write true or false"),
    "bool_type": ("expected true or false", "write true or false"),
    "int_parsing": ("expected a whole number", ""),
    "int_type": ("expected a whole number", ""),
    "int_from_float": ("expected a whole number", ""),
    "float_parsing": ("expected a number", ""),
    "string_type": ("expected text", "quote the value if it looks like a number, date or true/false"),
    "list_type": ("expected a list", "write [a, b] or one '- item' per line"),
    "dict_type": ("expected a mapping", "write key: value pairs indented below this key"),
    "model_type": ("expected a mapping", "write key: value pairs indented below this key"),
    "model_attributes_type": ("expected a mapping", "write key: value pairs indented below this key"),
    "string_too_short": ("must not be empty", ""),
}

_REQUIRED_HINTS = {
    "engine": "every job needs engine: rsync or engine: rclone",
    "source": "every job needs a source: the folder or remote to back up",
    "destination": "every job needs a destination: where the copy goes",
    "url": "a notification target needs a url",
    "target": "network_check needs a target like host:port",
}


@dataclass(frozen=True)
class Located:
    """A validation problem with its full path from the document root."""

    path: tuple[str | int, ...]
    message: str
    hint: str
    kind: str
    at_key: bool = False


def suggest(word: str, choices: Iterable[str], *, label: str = "valid keys") -> str:
    """Return a "did you mean …?" hint for a close match, else `label: ` and the list of choices
    ("" when there are none)."""
    options = sorted(choices)
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"{label}: " + ", ".join(options) if options else ""


def problems_from_validation(
    error: ValidationError, prefix: tuple[str | int, ...], model: type[BaseModel]
) -> Iterator[Located]:
    """Yield one Located problem per pydantic error, with paths below `prefix`."""
    for detail in error.errors():
        loc = tuple(part for part in detail["loc"] if not _is_tag(part))
        kind = detail["type"]
        context = detail.get("ctx") or {}
        value = detail.get("input")
        if not loc:
            yield Located(prefix, detail["msg"], "", kind)
        elif kind == "missing":
            name = str(loc[-1])
            yield Located(
                (*prefix, *loc[:-1]),
                f"missing required key {name!r}",
                _REQUIRED_HINTS.get(name, ""),
                kind,
                at_key=True,
            )
        elif kind == "extra_forbidden":
            name = str(loc[-1])
            yield Located(
                (*prefix, *loc),
                f"unknown key {name!r}",
                suggest(name, _fields_at(model, loc[:-1])),
                kind,
                at_key=True,
            )
        elif kind == "literal_error":
            options = _literal_options(str(context.get("expected", "")))
            hint = suggest(str(value), options)
            hint = hint if hint.startswith("did you") else "one of " + ", ".join(options)
            label = "unknown engine" if loc and loc[-1] == "engine" else "unknown value"
            yield Located((*prefix, *loc), f"{label} {_show(value)}", hint, kind)
        elif "reason" in context:
            yield Located((*prefix, *loc), str(context["reason"]), str(context.get("hint", "")), kind)
        elif "hint" in context:
            yield Located((*prefix, *loc), detail["msg"], str(context["hint"]), kind)
        elif kind in _PLAIN:
            message, hint = _PLAIN[kind]
            if value is not None and not isinstance(value, dict | list):
                message += f", got {_show(value)}"
            yield Located((*prefix, *loc), message, hint, kind)
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            words = {
                "greater_than_equal": "at least",
                "greater_than": "more than",
                "less_than_equal": "at most",
                "less_than": "less than",
            }[kind]
            bound = next(iter(context.values()), "")
            yield Located((*prefix, *loc), f"must be {words} {bound}, got {_show(value)}", "", kind)
        elif kind == "too_short":
            yield Located((*prefix, *loc), "must not be empty", "", kind)
        else:
            message = detail["msg"].removeprefix("Value error, ")
            yield Located((*prefix, *loc), message[:1].lower() + message[1:], "", kind)


def _show(value: Any) -> str:
    text = (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
    return text if len(text) <= 60 else text[:57] + "…"


_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$")


def _is_tag(part: Any) -> bool:
    # pydantic puts validator and union-member names into `loc` ("function-before[_hook(), Hook]").
    return isinstance(part, str) and _TAG.match(part) is not None


def _literal_options(expected: str) -> list[str]:
    return [piece.strip().strip("'\"") for piece in expected.replace(" or ", ",").split(",") if piece.strip()]


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at `loc` below `model` (for "did you mean")."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        target = _model_in(current)
        if target is None or part not in target.model_fields:
            return []
        current = target.model_fields[part].annotation
    target = _model_in(current)
    return list(target.model_fields) if target else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """Find the pydantic model inside Optional[...], list[...], Annotated[...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return None
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
