"""Notification targets: an apprise URL and the events that send a message."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from backupplan.plan.model.fields import Strict

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
