"""Property-based fuzzing: no input makes validate crash; it exits 0, or 1 with located messages."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from backupplan.cli.exits import run_cli
from backupplan.errors import EXIT_FAILED, EXIT_OK, PlanError
from backupplan.plan.load import load_plan

REPO = Path(__file__).resolve().parents[2]
BASE = YAML(typ="safe").load((REPO / "examples" / "plans" / "homelab-many-jobs.yaml").read_text())
LOCATED = re.compile(r"^plan\.yaml(:\d+:\d+)?: .+")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["@daily", "0 2 * * *", "every 6h", "5MiB", "30s", "${HOME}", "${X"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


ALL_PATHS = paths(BASE)[1:]


def mutate(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    mutated = copy.deepcopy(document)
    parent = mutated
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{last}_x"] = value
    return mutated


def check(tmp_path: Path, text: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    try:
        load_plan(plan)
    except PlanError as error:
        assert error.problems
        for problem in error.problems:
            rendered = problem.render().replace(str(plan), "plan.yaml")
            assert LOCATED.match(rendered), rendered
            if problem.file and text.strip():
                assert (
                    problem.line is not None
                    or "no such file" in problem.message
                    or "UTF-8" in problem.message
                )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ALL_PATHS), st.sampled_from(["replace", "delete", "add"]), values)
def test_mutated_valid_plan_never_crashes(
    tmp_path: Path, path: tuple[Any, ...], action: str, value: Any
) -> None:
    document = mutate(BASE, path, action, value)
    stream = __import__("io").StringIO()
    YAML(typ="safe", pure=True).dump(document, stream)
    check(tmp_path, stream.getvalue())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_random_text_never_crashes(tmp_path: Path, text: str) -> None:
    check(tmp_path, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_random_yaml_documents_through_the_cli(tmp_path: Path, document: Any) -> None:
    stream = __import__("io").StringIO()
    YAML(typ="safe", pure=True).dump(document, stream)
    plan = tmp_path / "plan.yaml"
    plan.write_text(stream.getvalue(), encoding="utf-8")
    from backupplan.cli import cli

    assert run_cli(cli, ["validate", str(plan)]) in (EXIT_OK, EXIT_FAILED)
