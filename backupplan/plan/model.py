"""The plan file's model: every field with its type, default, description and example.

The JSON Schema (`backupplan schema`) and the plan reference (docs/plan-reference.md) are generated
from these models; a test fails when a field lacks a description or an example.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from backupplan.units import (
    DURATION_HINT,
    SIZE_HINT,
    canonical_duration,
    canonical_size,
    parse_duration,
    parse_size,
)

JOB_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
JOB_ID_HINT = "job ids are 1-64 lower-case letters, digits, '-' and '_', starting with a letter or digit"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

NOTIFY_EVENTS = ("failure", "recovery", "success", "overdue", "interrupted")
NotifyEvent = Literal["failure", "recovery", "success", "overdue", "interrupted"]
DEFAULT_NOTIFY_ON: tuple[NotifyEvent, ...] = ("failure", "recovery", "overdue")


def _size(value: object) -> int:
    try:
        return parse_size(value)
    except ValueError as error:
        raise PydanticCustomError("size", "{reason}", {"reason": str(error), "hint": SIZE_HINT}) from None


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise PydanticCustomError(
            "duration", "{reason}", {"reason": str(error), "hint": DURATION_HINT}
        ) from None


_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kKmMgGtTpP]i?)?[bB]?\s*(/s)?\s*$"},
        {"const": 0},
    ]
}
_DURATION_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*)+$"}, {"const": 0}]
}

Size = Annotated[
    int,
    BeforeValidator(_size),
    PlainSerializer(canonical_size, return_type=str),
    WithJsonSchema(_SIZE_SCHEMA),
]
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(canonical_duration, return_type=str),
    WithJsonSchema(_DURATION_SCHEMA),
]


class Strict(BaseModel):
    """Base for every plan section: unknown keys are errors, assignments are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Retries(Strict):
    """How often a run is tried when it fails for a reason worth retrying (network, timeouts)."""

    attempts: int = Field(3, ge=1, le=100, description="Tries in all, the first one included.", examples=[3])
    backoff: Duration = Field(
        30.0,
        description="Wait before the second try; doubled for each further try "
        "(with up to 25% random jitter).",
        examples=["30s"],
    )
    max_backoff: Duration = Field(1800.0, description="The longest wait between two tries.", examples=["30m"])


class NetworkCheck(Strict):
    """Wait until the network answers before starting remote jobs."""

    target: str = Field(
        description="`host:port` to connect to, or an http(s) URL to fetch.",
        examples=["nas.local:873", "https://s3.example.com"],
    )
    interval: Duration = Field(60.0, description="How long to wait between checks.", examples=["60s"])
    timeout: Duration = Field(
        600.0,
        description="Give up waiting after this long and record the run as "
        "skipped for network; it is tried again at the next chance.",
        examples=["10m"],
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        from backupplan.plan.locations import target_problem

        problem = target_problem(value)
        if problem is not None:
            raise PydanticCustomError(
                "network_target",
                "{reason}",
                {
                    "reason": problem,
                    "hint": "write host:port, e.g. nas.local:873, or a URL like https://s3.example.com",
                },
            )
        return value


class LogRetention(Strict):
    """How many per-run logs and history entries to keep for each job."""

    runs: int = Field(
        50, ge=1, description="Keep the logs of this many most recent runs per job.", examples=[50]
    )


def _notify_target(value: object) -> object:
    return {"url": value} if isinstance(value, str) else value


class NotifyTarget(Strict):
    """A notification target: an apprise URL and the events that trigger it."""

    url: str = Field(
        min_length=1,
        description="An apprise notification URL (mailto://, ntfy://, "
        "json://, slack://, …). Put credentials in ${VAR} so they stay out of git.",
        examples=["ntfys://ntfy.sh/${NTFY_TOPIC}", "json://hooks.example.com/backup"],
    )
    on: list[NotifyEvent] = Field(
        default_factory=lambda: list(DEFAULT_NOTIFY_ON),
        description="Events that send a message.",
        examples=[["failure", "recovery", "overdue"]],
    )


NotifyList = list[Annotated[NotifyTarget, BeforeValidator(_notify_target)]]

KeepCount = Annotated[int, Field(ge=0, le=100_000)]


class Keep(Strict):
    """Retention: how many snapshots to keep per time bucket (the newest snapshot is always kept)."""

    last: KeepCount = Field(0, description="The most recent snapshots, whatever their age.", examples=[3])
    hourly: KeepCount = Field(
        0, description="The newest snapshot of each of the last N hours that have one.", examples=[24]
    )
    daily: KeepCount = Field(
        0, description="The newest snapshot of each of the last N days that have one.", examples=[7]
    )
    weekly: KeepCount = Field(
        0, description="The newest snapshot of each of the last N ISO weeks that have one.", examples=[4]
    )
    monthly: KeepCount = Field(
        0, description="The newest snapshot of each of the last N months that have one.", examples=[12]
    )
    yearly: KeepCount = Field(
        0, description="The newest snapshot of each of the last N years that have one.", examples=[5]
    )


class Snapshots(Strict):
    """Dated, hard-linked snapshots in the destination (rsync only)."""

    keep: Keep | None = Field(
        None,
        description="Retention after each completed snapshot; leave it out to keep every snapshot.",
        examples=[{"last": 3, "daily": 7, "weekly": 4}],
    )


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


class Job(Strict):
    """One backup job: what to copy, where, when and how."""

    description: str | None = Field(
        None,
        description="A line for people: shown on the site and in status.",
        examples=["Family photos to the NAS"],
    )
    engine: Literal["rsync", "rclone"] = Field(
        description="The program that copies: rsync (local, ssh, "
        "rsync daemon) or rclone (any rclone remote).",
        examples=["rsync"],
    )
    source: str = Field(
        min_length=1,
        description="What to back up: a folder (its contents are copied), "
        "`host:path` over ssh, or an rclone remote path.",
        examples=["~/Pictures"],
    )
    destination: str = Field(
        min_length=1,
        description="Where the copy goes: a folder, `host:path`, "
        "`rsync://host/module/path`, or `remote:bucket/path` for rclone.",
        examples=["/mnt/nas/photos"],
    )
    schedule: str | None = Field(
        None,
        description="When to run: cron (`0 2 * * *`), an alias (`@daily`) or "
        "an interval (`every 6h`); leave it out for manual-only jobs.",
        examples=["0 2 * * *"],
    )
    missed: Literal["run_once", "skip"] = Field(
        "run_once",
        description="After downtime: run once for all missed slots, or skip them (each is recorded).",
        examples=["run_once"],
    )
    bandwidth: Size | None = Field(
        None,
        description="Transfer limit per second; 0 is unlimited. Defaults to settings.bandwidth.",
        examples=["5MiB"],
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Patterns to leave out (rsync filter syntax for rsync, rclone filter syntax for rclone).",
        examples=[["*.tmp", ".cache/"]],
    )
    include: list[str] = Field(
        default_factory=list,
        description="Patterns to keep even when an exclude matches; checked before the excludes.",
        examples=[["*.jpg"]],
    )
    delete: bool = Field(
        False,
        description="Mirror deletions: remove files from the destination that are gone from the source.",
        examples=[False],
    )
    snapshots: Snapshots | None = Field(
        None,
        description="Keep dated hard-linked snapshots instead of one mirror (rsync only).",
        examples=[{"keep": {"daily": 7, "weekly": 4}}],
    )
    verify: Literal["none", "quick", "checksum"] = Field(
        "none",
        description="Check the copy after each run: "
        "quick compares sizes and times, checksum compares "
        "contents.",
        examples=["checksum"],
    )
    timeout: Duration | None = Field(
        None,
        description="Stop a run that takes longer than this. Defaults to settings.timeout.",
        examples=["4h"],
    )
    retries: Retries | None = Field(
        None,
        description="Retry policy for this job. Defaults to settings.retries.",
        examples=[{"attempts": 5, "backoff": "1m"}],
    )
    hooks: Hooks = Field(
        default_factory=Hooks,
        description="Commands to run before and after.",
        examples=[{"before": [["/usr/local/bin/dump-db"]]}],
    )
    enabled: bool = Field(
        True, description="A disabled job is kept in the plan but never run.", examples=[True]
    )
    allow_vanished: bool = Field(
        True,
        description="Files that vanish during the transfer (rsync exit 24) "
        "make the run a warning instead of a failure.",
        examples=[True],
    )
    notify: NotifyList = Field(
        default_factory=list,
        description="Extra notification targets for this job, on top of settings.notify.",
        examples=[["json://hooks.example.com/photos"]],
    )
    ping: str | None = Field(
        None,
        description="A healthchecks-style URL pinged at start (/start), success and failure (/fail).",
        examples=["https://hc-ping.com/${HC_UUID}"],
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables for the engine and "
        "hooks, e.g. rclone credentials; values from ${VAR} stay secret.",
        examples=[{"RSYNC_PASSWORD": "${NAS_PASSWORD}"}],
    )
    extra_args: list[str] = Field(
        default_factory=list,
        description="Extra options passed to the engine as they are; each must start with '-'.",
        examples=[["--one-file-system"]],
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        from backupplan.plan.schedule import ScheduleError, parse_schedule, resolve_timezone

        context = info.context or {}
        zone = context.get("timezone") or resolve_timezone("UTC")
        try:
            return parse_schedule(value, zone).text
        except ScheduleError as error:
            raise PydanticCustomError(
                "schedule", "{reason}", {"reason": str(error), "hint": error.hint}
            ) from None

    @field_validator("extra_args")
    @classmethod
    def _options_only(cls, value: list[str]) -> list[str]:
        for argument in value:
            if not argument.startswith("-"):
                raise PydanticCustomError(
                    "extra_args",
                    "{reason}",
                    {
                        "reason": f"{argument!r} is not an option",
                        "hint": "extra_args takes options only, like --one-file-system; "
                        "attach values with '='",
                    },
                )
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ENV_NAME.match(name):
                raise PydanticCustomError(
                    "env_name",
                    "{reason}",
                    {
                        "reason": f"{name!r} is not an environment variable name",
                        "hint": "use letters, digits and '_', not starting with a digit",
                    },
                )
        return value


class Settings(Strict):
    """Settings for the whole plan. Every key is optional."""

    state_dir: str = Field(
        ".backupplan",
        description="Journal, logs and locks; relative paths resolve "
        "against the plan file's folder. Created private (0700).",
        examples=[".backupplan"],
    )
    site_dir: str = Field(
        "site",
        description="Where the static status site is written; relative paths "
        "resolve against the plan file's folder.",
        examples=["site"],
    )
    site_url: str | None = Field(
        None,
        description="The public address of the site, used for links in notifications.",
        examples=["https://backups.example.com/"],
    )
    timezone: str = Field(
        "local",
        description="Timezone for cron schedules: an IANA name, UTC, or local (the machine's).",
        examples=["Europe/Berlin"],
    )
    max_parallel: int = Field(
        2, ge=1, le=256, description="How many jobs may run at the same time.", examples=[2]
    )
    bandwidth: Size = Field(
        0, description="Default transfer limit per second for jobs; 0 is unlimited.", examples=["10MiB"]
    )
    timeout: Duration = Field(
        86400.0,
        description="Default wall-clock limit of a run; a run past it is stopped and recorded as timed out.",
        examples=["12h"],
    )
    stop_grace: Duration = Field(
        10.0,
        description="How long a stopped engine gets to exit after TERM before it is killed.",
        examples=["10s"],
    )
    retries: Retries = Field(
        default_factory=Retries,
        description="Default retry policy.",
        examples=[{"attempts": 3, "backoff": "30s", "max_backoff": "30m"}],
    )
    network_check: NetworkCheck | None = Field(
        None,
        description="Wait for the network before remote jobs.",
        examples=[{"target": "nas.local:873", "interval": "60s"}],
    )
    recovery: Literal["resume", "pause"] = Field(
        "resume",
        description="What to do with runs a crash "
        "interrupted: run them again at once, or pause the job "
        "until `backupplan resume`.",
        examples=["resume"],
    )
    refresh: Duration = Field(
        5.0, description="How often the site's pages poll status.json.", examples=["5s"]
    )
    overdue_grace: Duration = Field(
        3600.0,
        description="A scheduled job is overdue when its last success "
        "is older than its schedule allows plus this grace.",
        examples=["1h"],
    )
    log_retention: LogRetention = Field(
        default_factory=LogRetention, description="Per-job log retention.", examples=[{"runs": 50}]
    )
    notify: NotifyList = Field(
        default_factory=list,
        description="Notification targets for every job.",
        examples=[[{"url": "mailto://user:${SMTP_PASSWORD}@example.com", "on": ["failure", "recovery"]}]],
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from backupplan.plan.schedule import ScheduleError, resolve_timezone

        try:
            resolve_timezone(value)
        except ScheduleError as error:
            raise PydanticCustomError(
                "timezone", "{reason}", {"reason": str(error), "hint": error.hint}
            ) from None
        return value


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
