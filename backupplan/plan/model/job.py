"""One job under `jobs:`: what to copy, where, when and how."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from backupplan.plan.model.dumps import DUMPS_DIR, Dump, DumpsDir, check_dumps
from backupplan.plan.model.fields import ENV_NAME, Duration, Size, Strict
from backupplan.plan.model.fleet import check_selectors
from backupplan.plan.model.guard import Guard, GuardSetting
from backupplan.plan.model.hooks import Hooks
from backupplan.plan.model.notify import NotifyList
from backupplan.plan.model.preserve import Preserve
from backupplan.plan.model.settings import Retries
from backupplan.plan.model.snapshots import Snapshots
from backupplan.plan.model.ssh import Ssh
from backupplan.plan.model.versions import Versions


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
    hosts: list[str] | None = Field(
        None,
        description="The machines that run this job: names and globs (`nas`, `web-*`); leave it out "
        "for every host. The host is settings.host, else $BACKUPPLAN_HOST, else the hostname.",
        examples=[["nas", "web-*"]],
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
    source_marker: str | None = Field(
        None,
        description="A file that must exist in the source, relative to it (e.g. .backupplan-source): "
        "without it the run is refused before the destination is touched. The simple, proven guard "
        "against a source disk that is not mounted.",
        examples=[".backupplan-source"],
    )
    one_file_system: bool = Field(
        False,
        description="Stay on the source's file system: do not descend into other mounts under it "
        "(rsync --one-file-system, rclone --one-file-system).",
        examples=[True],
    )
    guard: GuardSetting = Field(
        default_factory=Guard,
        description="Hold a run that would delete or rewrite too much, and refuse an empty source "
        "over a non-empty destination; `off` turns every guard off. See docs/guard.md.",
        examples=[{"max_delete": "10%", "max_change": "50%"}, "off"],
    )
    ssh: Ssh = Field(
        default_factory=Ssh,
        description="How rsync reaches a `host:path` (or `ssh://user@host:port/path`) over ssh: port, "
        "key, known_hosts, host-key policy, timeouts. Defaults never prompt. See docs/remote.md.",
        examples=[{"port": 2222, "identity_file": "~/.ssh/backup_ed25519"}],
    )
    preserve: Preserve = Field(
        default_factory=Preserve,
        description="What the copy keeps besides contents: hard links, ACLs, extended attributes, "
        "sparse files (rsync), metadata (rclone); all on by default. See docs/fidelity.md.",
        examples=[{"acls": False, "xattrs": False}],
    )
    snapshots: Snapshots | None = Field(
        None,
        description="Keep dated hard-linked snapshots instead of one mirror (rsync only).",
        examples=[{"keep": {"daily": 7, "weekly": 4}}],
    )
    versions: Versions | None = Field(
        None,
        description="Keep what each run replaces or deletes in a dated folder per run, beside the "
        "copy (rclone only; rsync jobs have snapshots). See docs/remote.md.",
        examples=[{"keep": {"daily": 7, "weekly": 4, "monthly": 12}}],
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
    dumps: list[Dump] = Field(
        default_factory=list,
        description="Databases to dump consistently into the source (in dumps_dir) before each "
        "transfer, after the `before` hooks; a failing dump fails the run and skips the transfer. "
        "See docs/dumps.md.",
        examples=[
            [{"name": "app", "engine": "postgresql", "database": "app", "password": "${APP_DB_PASSWORD}"}]
        ],
    )
    dumps_dir: DumpsDir = Field(
        DUMPS_DIR,
        description="The folder inside the source where the dumps are written (relative to the "
        "source; created 0700, files 0600), so that they travel with the source.",
        examples=[".backupplan-dumps"],
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

    @field_validator("dumps")
    @classmethod
    def _dumps(cls, value: list[Dump], info: ValidationInfo) -> list[Dump]:
        return check_dumps(value, info.data.get("engine"), info.data.get("source"))

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_selectors(value)

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
