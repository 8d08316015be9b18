"""`backupplan schema`: the plan's JSON Schema."""

from __future__ import annotations

import json

import click

from backupplan.plan.schema import plan_schema


def schema_command(indent: int) -> int:
    click.echo(json.dumps(plan_schema(), indent=indent or None, ensure_ascii=False))
    return 0
