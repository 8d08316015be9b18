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


def placeholder(name: str) -> str:
    """What `validate --no-env` puts in place of an unset ${NAME}: a value no real one looks like."""
    return f"<{name}>"


def interpolate_text(
    text: str,
    environ: Mapping[str, str],
    secrets: SecretRegistry,
    unset: set[str] | None = None,
) -> tuple[str, InterpolationProblem | None]:
    """Given one plan string, return it expanded, and the first problem found (path left empty).
    With `unset` (`validate --no-env`), a variable that is not set is no problem: it becomes its
    placeholder (a secret like any value from the environment) and its name is added to `unset`."""
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
        if unset is not None:
            unset.add(name)
            secrets.add(placeholder(name), name)
            return placeholder(name)
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
    unset: dict[tuple[str | int, ...], set[str]] | None = None,
) -> object:
    """Return a plain copy of `data` (dicts, lists, scalars) with every string value expanded. With
    `unset` (`validate --no-env`), unset variables become placeholders; `unset` maps the path of
    each value that holds one to the names."""
    if isinstance(data, Mapping):
        return {
            key: interpolate_tree(value, environ, secrets, report, (*path, key), unset)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            interpolate_tree(value, environ, secrets, report, (*path, index), unset)
            for index, value in enumerate(data)
        ]
    if isinstance(data, str):
        names: set[str] | None = set() if unset is not None else None
        expanded, problem = interpolate_text(str(data), environ, secrets, names)
        if problem is not None:
            report(InterpolationProblem(path, problem.message, problem.hint))
        if unset is not None and names:
            unset[path] = names
        return expanded
    return data
