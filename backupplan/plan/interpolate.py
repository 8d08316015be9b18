"""`${VAR}` and `${VAR:-default}` in plan values; `$${` writes a literal `${`.

Values read from the environment are registered as secrets (see backupplan.secrets), so they are
never printed back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from backupplan.secrets import SecretRegistry

_TOKEN = re.compile(r"\$\$\{|\$\{(?P<name>[^}:]*)(?::-(?P<default>[^}]*))?\}|\$\{")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class InterpolationProblem:
    path: tuple[str | int, ...]
    message: str
    hint: str


def interpolate_text(
    text: str, environ: Mapping[str, str], secrets: SecretRegistry
) -> tuple[str, InterpolationProblem | None]:
    """Given one plan string, return it expanded, and the first problem found (path left empty)."""
    if "$" not in text:
        return text, None
    problem: InterpolationProblem | None = None

    def replace(match: re.Match[str]) -> str:
        nonlocal problem
        token = match.group(0)
        if token == "$${":
            return "${"
        if token == "${":
            problem = problem or InterpolationProblem(
                (), "unterminated ${", "close it with }, or write $${ for a literal ${"
            )
            return token
        name = match["name"]
        if not _NAME.match(name):
            problem = problem or InterpolationProblem(
                (),
                f"{token!r} is not a variable reference",
                "names are letters, digits and _, e.g. ${NAS_HOST}",
            )
            return token
        if name in environ:
            value = environ[name]
            secrets.add(value, name)
            return value
        if match["default"] is not None:
            return match["default"]
        problem = problem or InterpolationProblem(
            (), f"${{{name}}} is not set", f"export {name}, or give a default: ${{{name}:-value}}"
        )
        return ""

    return _TOKEN.sub(replace, text), problem


def interpolate_tree(
    data: object,
    environ: Mapping[str, str],
    secrets: SecretRegistry,
    report: Callable[[InterpolationProblem], None],
    path: tuple[str | int, ...] = (),
) -> object:
    """Return a plain copy of `data` (dicts, lists, scalars) with every string value expanded."""
    if isinstance(data, Mapping):
        return {
            key: interpolate_tree(value, environ, secrets, report, (*path, key))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            interpolate_tree(value, environ, secrets, report, (*path, index))
            for index, value in enumerate(data)
        ]
    if isinstance(data, str):
        expanded, problem = interpolate_text(str(data), environ, secrets)
        if problem is not None:
            report(InterpolationProblem(path, problem.message, problem.hint))
        return expanded
    return data
