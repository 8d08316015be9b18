"""Read a plan file and parse its YAML: every problem reading or parsing it becomes a located
`Problem` (`file:line:col: message (hint)`), raised in a PlanError.

Two parsers: ruamel's fast C loader for the common case, and its round-trip mode, which knows the
line and column of every key and value, when something is wrong (see backupplan.plan.load).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backupplan.errors import PlanError, Problem


def read_plan_text(path: Path, display: str) -> str:
    """Return the plan file's text; raise PlanError (without a line) when it cannot be read."""

    def fail(message: str, hint: str) -> PlanError:
        return PlanError([Problem(display, message, hint=hint)])

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise fail("no such file", "create one with `backupplan init`, or pass the plan's path") from None
    except IsADirectoryError:
        raise fail(
            "is a directory, not a plan file", f"pass the file, e.g. {display.rstrip('/')}/backups.yaml"
        ) from None
    except PermissionError:
        raise fail(
            "cannot be read: permission denied", "check the file's owner and mode, or run as its owner"
        ) from None
    except OSError as error:
        raise fail(f"cannot be read: {error.strerror or error}", "check the path") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise PlanError(
            [
                Problem(
                    display,
                    f"is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line})",
                    hint="save the file as UTF-8",
                )
            ]
        ) from None


def parse_yaml(text: str, display: str, *, round_trip: bool) -> Any:
    """Parse YAML text; raise PlanError with the position of a syntax error or duplicate key."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    if round_trip:
        loader = YAML(typ="rt")
    else:
        loader = YAML(typ="safe")
        loader.Resolver = _fast_resolver()
    try:
        return loader.load(text)
    except MarkedYAMLError as error:
        raise PlanError([_yaml_problem(error, display)]) from None
    except ReaderError as error:
        before = text[: error.position]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        raise PlanError(
            [
                Problem(
                    display,
                    f"a control character ({error.character!r}) is not allowed in YAML",
                    line,
                    column,
                    hint="remove it, or write it as an escape inside double quotes",
                )
            ]
        ) from None
    except YAMLError as error:
        message = " ".join(str(error).split())
        raise PlanError([Problem(display, f"YAML error: {message}", 1, 1)]) from None


def _fast_resolver() -> Any:
    """ruamel's resolver, minus a version lookup that costs ~50 ms per 1,000 jobs: plans without a
    `%YAML` directive (the only ones that take this path) are YAML 1.2."""
    from ruamel.yaml.resolver import VersionedResolver

    class FastResolver(VersionedResolver):
        @property
        def processing_version(self) -> Any:
            return (1, 2)

    return FastResolver


def _yaml_problem(error: Any, display: str) -> Problem:
    from ruamel.yaml.constructor import DuplicateKeyError

    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    if isinstance(error, DuplicateKeyError):
        first = error.context_mark
        key = str(error.problem).split('"')[1] if '"' in str(error.problem) else "?"
        return Problem(
            display,
            f"duplicate key {key!r}",
            line,
            column,
            hint=f"it is already defined on line {first.line + 1}; a key may appear once"
            if first
            else "a key may appear once",
        )
    problem = str(error.problem or error.context or "syntax error")
    if "could not determine a constructor for the tag" in problem:
        return Problem(display, "YAML tags are not allowed", line, column, hint="write plain values")
    if "cannot start any token" in problem and "'\\t'" in problem:
        return Problem(
            display,
            "YAML syntax error: a tab character",
            line,
            column,
            hint="indent with spaces; YAML forbids tabs",
        )
    hint = "check indentation, colons and quotes around this point"
    context = error.context_mark
    if error.context and context is not None and mark is not None and context.line != mark.line:
        hint = f"{error.context} on line {context.line + 1}; {hint}"
    return Problem(display, f"YAML syntax error: {problem}", line, column, hint=hint)
