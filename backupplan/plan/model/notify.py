"""Notification targets: an apprise URL and the events that send a message."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from backupplan.plan.model.fields import Duration, Strict

NOTIFY_EVENTS = ("failure", "recovery", "success", "overdue", "interrupted")


NotifyEvent = Literal["failure", "recovery", "success", "overdue", "interrupted"]


DEFAULT_NOTIFY_ON: tuple[NotifyEvent, ...] = ("failure", "recovery", "overdue")


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


def _heartbeat(value: object) -> object:
    return {"url": value} if isinstance(value, str) else value


class Heartbeat(Strict):
    """A URL pinged while the scheduler lives, so that an outside service (healthchecks.io, Uptime
    Kuma, Cronitor) raises the alarm when the machine or the daemon stops."""

    url: str = Field(
        min_length=1,
        description="A healthchecks-style URL (the same kinds as a job's `ping`); put its secret part "
        "in ${VAR}.",
        examples=["https://hc-ping.com/${HC_HEARTBEAT_UUID}"],
    )
    every: Duration = Field(
        300.0,
        description="How often the daemon pings it. Without a daemon, every `apply` (the OS timers' "
        "route) pings it once. Set the service's period to this (or to your schedule) plus a grace.",
        examples=["5m"],
    )


HeartbeatSetting = Annotated[Heartbeat, BeforeValidator(_heartbeat)]
