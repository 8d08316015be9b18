"""The plan file's model: every field with its type, default, description and example.

One module per section: `fields` (the strict base, sizes, durations, ids), `settings`, `job`,
`snapshots`, `versions`, `hooks`, `notify`, `guard`, `preserve`, `ssh`, `dumps`; `Plan`, the whole file, is
here. Import the models from this package. The JSON Schema (`backupplan schema`) and the plan
reference (docs/plan-reference.md) are generated from them; a test fails when a field lacks a
description or an example.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backupplan.plan.model.dumps import Dump
from backupplan.plan.model.fields import ENV_NAME, JOB_ID, JOB_ID_HINT, Duration, Size, Strict
from backupplan.plan.model.fleet import Fleet, Publish, selects
from backupplan.plan.model.guard import Guard
from backupplan.plan.model.hooks import Hook, Hooks
from backupplan.plan.model.job import Job
from backupplan.plan.model.notify import (
    DEFAULT_NOTIFY_ON,
    NOTIFY_EVENTS,
    Heartbeat,
    NotifyEvent,
    NotifyTarget,
)
from backupplan.plan.model.preserve import Preserve
from backupplan.plan.model.settings import LogRetention, NetworkCheck, Retries, Settings
from backupplan.plan.model.snapshots import Keep, Snapshots
from backupplan.plan.model.ssh import Ssh
from backupplan.plan.model.versions import Versions

__all__ = [
    "DEFAULT_NOTIFY_ON",
    "ENV_NAME",
    "JOB_ID",
    "JOB_ID_HINT",
    "NOTIFY_EVENTS",
    "Dump",
    "Duration",
    "Fleet",
    "Guard",
    "Heartbeat",
    "Hook",
    "Hooks",
    "Job",
    "Keep",
    "LogRetention",
    "NetworkCheck",
    "NotifyEvent",
    "NotifyTarget",
    "Plan",
    "Preserve",
    "Publish",
    "Retries",
    "Settings",
    "Size",
    "Snapshots",
    "Ssh",
    "Strict",
    "Versions",
    "selects",
]


class Plan(Strict):
    """A whole plan: settings and jobs, with `defaults` already merged into every job."""

    version: Literal[1] = Field(description="Format version of the plan file.", examples=[1])
    settings: Settings = Field(
        default_factory=Settings, description="Settings for the whole plan.", examples=[{"max_parallel": 2}]
    )
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="Any job field; merged under every "
        "job (mappings merge key by key, lists and values are replaced).",
        examples=[{"engine": "rsync", "schedule": "@daily"}],
    )
    jobs: dict[str, Job] = Field(
        default_factory=dict,
        description="The backup jobs, by id.",
        examples=[{"photos": {"engine": "rsync", "source": "~/Pictures", "destination": "/mnt/nas/photos"}}],
    )
