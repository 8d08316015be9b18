"""The schema is the documentation: every field described with an example; schema and reference agree."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML

from backupplan.plan import model
from backupplan.plan.reference import render
from backupplan.plan.schema import plan_schema

REPO = Path(__file__).resolve().parents[2]
PLANS = [REPO / "backups.yaml", *sorted((REPO / "examples" / "plans").glob("*.yaml"))]


def all_models() -> list[type[BaseModel]]:
    """Every model defined in the model package's modules (the package itself included)."""
    modules = [model] + [
        importlib.import_module(f"{model.__name__}.{info.name}")
        for info in pkgutil.iter_modules(model.__path__)
    ]
    found = {
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__.startswith(model.__name__)
        and value is not model.Strict
    }
    return sorted(found, key=lambda section: section.__name__)


@pytest.mark.parametrize("section", all_models(), ids=lambda section: section.__name__)
def test_every_field_has_description_and_example(section: type[BaseModel]) -> None:
    for name, info in section.model_fields.items():
        assert info.description, f"{section.__name__}.{name} has no description"
        assert info.examples, f"{section.__name__}.{name} has no example"


@pytest.mark.parametrize("section", all_models(), ids=lambda section: section.__name__)
def test_examples_are_valid_values(section: type[BaseModel]) -> None:
    """Each field's example passes that field's own validation (no example drifts from the model)."""
    from pydantic import TypeAdapter

    for info in section.model_fields.values():
        assert info.examples
        adapter = TypeAdapter(info.rebuild_annotation())  # type: ignore[attr-defined]
        adapter.validate_python(info.examples[0])


def test_schema_command_prints_the_schema(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["schema"])
    assert result.code == 0
    assert json.loads(result.out) == plan_schema()


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(plan_schema())


@pytest.mark.parametrize("plan", PLANS, ids=lambda path: path.name)
def test_shipped_plans_satisfy_the_schema(plan: Path) -> None:
    document = YAML(typ="safe").load(plan.read_text())
    jsonschema.Draft202012Validator(plan_schema()).validate(document)


def test_schema_rejects_what_validate_rejects() -> None:
    validator = jsonschema.Draft202012Validator(plan_schema())
    bad = {"version": 1, "jobs": {"Bad Id": {"engine": "rsynk", "source": "/a", "destination": "/b", "x": 1}}}
    messages = {error.message for error in validator.iter_errors(bad)}
    assert any("Bad Id" in message for message in messages)
    assert not validator.is_valid({"version": 1, "jobs": {"a": {"engine": "rsync", "source": 5}}})
    assert not validator.is_valid({"version": 1, "settings": {"bandwidth": 5000}})
    assert validator.is_valid({"version": 1, "defaults": {"bandwidth": "5MiB"}, "jobs": {}})


def test_reference_doc_is_current() -> None:
    committed = (REPO / "docs" / "plan-reference.md").read_text()
    assert committed == render(), "regenerate: python -m backupplan.plan.reference > docs/plan-reference.md"
