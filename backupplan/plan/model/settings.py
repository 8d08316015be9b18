"""`settings:`, the plan-wide section, and the retry policy and network check it holds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from backupplan.plan.model.fields import Duration, Size, Strict
from backupplan.plan.model.fleet import Fleet, Publish, check_host_name
from backupplan.plan.model.notify import HeartbeatSetting, NotifyList


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
    host: str | None = Field(
        None,
        description="The name this machine acts and reports as (default: $BACKUPPLAN_HOST, else its "
        "hostname); jobs whose `hosts:` do not select it are not run here.",
        examples=["nas"],
    )
    fleet: Fleet | None = Field(
        None,
        description="The machines that share this plan (see docs/fleet.md).",
        examples=[{"hosts": ["laptop", "nas", "web-1"]}],
    )
    publish: Publish | None = Field(
        None,
        description="Publish this host's status (and optionally its site) for a fleet page, through "
        "rclone or to a folder (docs/fleet.md).",
        examples=[{"to": "fleet:backupplan-status", "site": True, "every": "1m"}],
    )
    heartbeat: HeartbeatSetting | None = Field(
        None,
        description="A URL pinged while backupplan keeps watch (a URL, or {url, every}): an outside "
        "service alerts when the pings stop. See docs/monitoring.md.",
        examples=[
            "https://hc-ping.com/${HC_HEARTBEAT_UUID}",
            {"url": "https://hc-ping.com/x", "every": "5m"},
        ],
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return None if value is None else check_host_name(value)

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
