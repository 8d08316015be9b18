"""Many machines, one plan: which hosts run a job (`hosts:`), the fleet's host names
(`settings.fleet`), and publishing each host's status where a fleet page can read it
(`settings.publish`). See docs/fleet.md."""

from __future__ import annotations

import fnmatch
import re

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from backupplan.plan.model.fields import Duration, Strict

HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$")
SELECTOR = re.compile(r"^[A-Za-z0-9*?\[\]!_.-]{1,253}$")


def selects(selectors: list[str] | None, host: str) -> bool:
    """Given a job's `hosts:` (None: every host) and a host name, return whether it runs there."""
    if selectors is None:
        return True
    name = host.lower()
    return any(fnmatch.fnmatchcase(name, selector.lower()) for selector in selectors)


def check_selectors(selectors: list[str]) -> list[str]:
    """Validate `hosts:` entries (names and shell-style globs)."""
    if not selectors:
        raise PydanticCustomError(
            "host_selector",
            "{reason}",
            {
                "reason": "an empty hosts list runs the job on no host",
                "hint": "leave hosts out for every host, or set enabled: false to stop the job",
            },
        )
    for selector in selectors:
        if not SELECTOR.match(selector):
            raise PydanticCustomError(
                "host_selector",
                "{reason}",
                {
                    "reason": f"{selector!r} is not a host name or pattern",
                    "hint": "use names like nas or web-1, and globs like web-* or db-[12]",
                },
            )
    return selectors


def is_pattern(selector: str) -> bool:
    return any(mark in selector for mark in "*?[")


def could_share(first: list[str] | None, second: list[str] | None, known: list[str]) -> bool:
    """Whether two jobs' `hosts:` may both select one machine: one of them selects every host,
    or a known host name (`settings.fleet.hosts`, or a plain name in either list) or an identical
    selector is in both. Two globs that no known name matches are taken to mean different
    machines (`web-*` and `db-*`)."""
    if first is None or second is None:
        return True
    if {selector.lower() for selector in first} & {selector.lower() for selector in second}:
        return True
    names = set(known) | {s for s in first + second if not is_pattern(s)}
    return any(selects(first, name) and selects(second, name) for name in names)


def check_host_name(name: str) -> str:
    if not HOST_NAME.match(name):
        raise PydanticCustomError(
            "host_name",
            "{reason}",
            {"reason": f"{name!r} is not a host name", "hint": "letters, digits, '.', '-' and '_'"},
        )
    return name


class Fleet(Strict):
    """The machines that share this plan (optional: lets `validate` catch a misspelt selector)."""

    hosts: list[str] = Field(
        default_factory=list,
        description="Every host name that uses this plan; a job's `hosts:` selector matching none "
        "of them is a warning.",
        examples=[["laptop", "nas", "web-1", "web-2"]],
    )

    @field_validator("hosts")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            check_host_name(name)
        return value


class Publish(Strict):
    """Where this host publishes its status (and, with `site`, its whole status site) for a fleet
    page: any rclone remote or a local or NFS folder, under `TO/HOST/`."""

    to: str = Field(
        min_length=1,
        description="An rclone remote path (`s3:fleet-status`) or a folder (`/mnt/share/backups`); "
        "each host writes under its own `HOST/` folder there.",
        examples=["fleet:backupplan-status", "/srv/nfs/backupplan"],
    )
    site: bool = Field(
        False, description="Publish the whole status site, not only status.json.", examples=[True]
    )
    every: Duration = Field(
        60.0,
        description="Publish at most this often (after events and heartbeats); a failed publish "
        "is tried again at the next one.",
        examples=["1m"],
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment for rclone (an rclone remote defined in env, credentials from "
        "${VAR}: never shown).",
        examples=[{"RCLONE_CONFIG_FLEET_TYPE": "s3", "RCLONE_CONFIG_FLEET_SECRET_ACCESS_KEY": "${KEY}"}],
    )
