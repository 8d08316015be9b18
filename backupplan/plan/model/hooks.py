"""`hooks:` of a job: commands run before and after, as argv lists or explicit shell lines."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from backupplan.plan.model.fields import Duration, Strict


def _hook(value: object) -> object:
    if isinstance(value, str):
        if not value.strip() or any(character.isspace() for character in value):
            raise PydanticCustomError(
                "hook_string",
                "a hook string with spaces is ambiguous",
                {
                    "hint": "write an argv list like [pg_dump, -f, /tmp/db.sql] "
                    "or {shell: 'pg_dump > /tmp/db.sql'}"
                },
            )
        return {"argv": [value]}
    if isinstance(value, list):
        return {"argv": value}
    return value


class Hook(Strict):
    """One hook command: an argv list (no shell), or an explicit shell string."""

    argv: list[str] | None = Field(
        None,
        min_length=1,
        description="Program and arguments, run without a shell.",
        examples=[["pg_dump", "-f", "/var/backups/db.sql", "app"]],
    )
    shell: str | None = Field(
        None,
        min_length=1,
        description="A command line run by /bin/sh -c.",
        examples=["pg_dumpall | gzip > /var/backups/all.sql.gz"],
    )
    timeout: Duration = Field(300.0, description="Stop the hook after this long.", examples=["5m"])

    @model_validator(mode="after")
    def _one_form(self) -> Hook:
        if (self.argv is None) == (self.shell is None):
            raise PydanticCustomError(
                "hook_form",
                "a hook needs exactly one of argv or shell",
                {"hint": "write [program, arg, …] or {shell: 'command line'}"},
            )
        return self


HookList = list[Annotated[Hook, BeforeValidator(_hook)]]


class Hooks(Strict):
    """Commands run around a job. Each gets the run's facts in BACKUPPLAN_* environment variables."""

    before: HookList = Field(
        default_factory=list,
        description="Run before the transfer; if one fails, the transfer is skipped and the run fails.",
        examples=[[["/usr/local/bin/dump-db"]]],
    )
    after: HookList = Field(
        default_factory=list,
        description="Run after every run, whatever its outcome.",
        examples=[[{"shell": "sync"}]],
    )
    on_success: HookList = Field(
        default_factory=list,
        description="Run after a successful run.",
        examples=[[["touch", "/var/run/backup.ok"]]],
    )
    on_failure: HookList = Field(
        default_factory=list,
        description="Run after a failed run.",
        examples=[[{"shell": "logger -t backup 'photos failed'"}]],
    )
