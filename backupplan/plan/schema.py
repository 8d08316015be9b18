"""The plan's JSON Schema, generated from the pydantic models, with the shorthands people write."""

from __future__ import annotations

import copy
from typing import Any

from backupplan import __version__
from backupplan.plan.model import JOB_ID, Plan

SCHEMA_ID = "https://backupplan.invalid/schema/plan-v1.json"


def plan_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a version-1 plan file."""
    schema = Plan.model_json_schema(mode="validation")
    definitions = schema.setdefault("$defs", {})

    job = definitions["Job"]
    # engine, source and destination may come from `defaults`, which JSON Schema cannot merge:
    # `backupplan validate` checks them after merging.
    job.pop("required", None)
    job["description"] += " engine, source and destination are required, here or in defaults."
    defaults = copy.deepcopy(job)
    defaults.pop("required", None)
    defaults["title"] = "JobDefaults"
    defaults["description"] = "Any job field; merged under every job."
    definitions["JobDefaults"] = defaults
    schema["properties"]["defaults"] = {
        "$ref": "#/$defs/JobDefaults",
        "description": Plan.model_fields["defaults"].description,
    }
    schema["properties"]["jobs"]["propertyNames"] = {"pattern": JOB_ID.pattern}

    hook_entry = {
        "anyOf": [
            {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "argv, run without a shell",
            },
            {"type": "string", "pattern": r"^\S+$", "description": "a program without arguments"},
            {"$ref": "#/$defs/Hook"},
        ]
    }
    for name in ("before", "after", "on_success", "on_failure"):
        definitions["Hooks"]["properties"][name]["items"] = hook_entry
    notify_entry = {
        "anyOf": [{"type": "string", "description": "an apprise URL"}, {"$ref": "#/$defs/NotifyTarget"}]
    }
    for holder in ("Job", "JobDefaults", "Settings"):
        definitions[holder]["properties"]["notify"]["items"] = notify_entry

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "backupplan plan",
        "description": f"A backupplan plan file (backups.yaml), format version 1; backupplan {__version__}.",
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
    }
