"""Notification targets and delivery through the apprise library.

A job's targets are `settings.notify` plus the job's own `notify`, identical URLs merged into one
target that gets the union of their events. `deliver` makes one try to send one message to one
URL; retries and the background thread are the outbox's (backupplan.notify.outbox).

apprise is imported on first delivery only, so that commands that send nothing stay fast. Its log
lines (and urllib3's, which it uses) go through a filter that masks secrets, because some services
log the URL they call and a URL may carry a token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from backupplan.errors import BackupplanError
from backupplan.notify.decide import EVENTS
from backupplan.notify.message import Message
from backupplan.plan.model import NotifyTarget, Plan
from backupplan.secrets import mask

# apprise's own limit for one try; the services' connect/read timeouts (4 s by default) come first.
DELIVERY_TIMEOUT = 30.0


class DeliveryError(BackupplanError):
    """A message could not be delivered to a target; the text is masked."""


@dataclass(frozen=True)
class Target:
    """One notification URL and the events it gets (in the documented event order)."""

    url: str
    on: tuple[str, ...]

    @property
    def label(self) -> str:
        """The URL as it may be shown: `${VAR}` in place of secret values, URL passwords hidden."""
        return mask(self.url)

    def wants(self, event: str) -> bool:
        return event in self.on


def merge_targets(*groups: Iterable[NotifyTarget]) -> list[Target]:
    """Given lists of plan targets (settings first), return the targets with identical URLs merged
    (their events united), in first-seen order."""
    events: dict[str, set[str]] = {}
    for group in groups:
        for target in group:
            events.setdefault(target.url.strip(), set()).update(target.on)
    return [
        Target(url, tuple(event for event in EVENTS if event in wanted)) for url, wanted in events.items()
    ]


def plan_targets(plan: Plan, job: str | None) -> list[Target]:
    """Given a plan and a job id, return the job's targets (settings + job); for None, every target
    of the plan (settings + all jobs). A job the plan does not have gets the settings' targets."""
    if job is None:
        return merge_targets(plan.settings.notify, *(entry.notify for entry in plan.jobs.values()))
    entry = plan.jobs.get(job)
    return merge_targets(plan.settings.notify, entry.notify if entry else [])


def deliver(url: str, message: Message, *, timeout: float = DELIVERY_TIMEOUT) -> None:
    """Given a notification URL and a message, send it once; raise DeliveryError (masked) when the
    URL is not one apprise knows or the service did not accept the message."""
    apprise = _apprise()
    try:
        service = apprise.Apprise.instantiate(url)
    except Exception as error:
        raise DeliveryError(f"{mask(url)}: {mask(str(error))}") from None
    if service is None:
        raise DeliveryError(
            f"{mask(url)} is not a notification URL that apprise understands "
            "(check its scheme and fields; docs/notifications.md has examples)"
        )
    batch = apprise.Apprise()
    batch.add(service)
    problems: list[str] = []

    def keep(entry: Any, _service: Any) -> None:
        text = str(getattr(entry, "message", "") or "").strip()
        if text and text not in problems:
            problems.append(text)

    try:
        result = batch.notify(
            body=message.body,
            title=message.title,
            notify_type=apprise.NotifyType(message.kind),
            body_format=apprise.NotifyFormat.TEXT,
            timeout=timeout,
            log_callback=keep,
            log_level=logging.WARNING,
        )
    except Exception as error:
        raise DeliveryError(mask(f"{type(error).__name__}: {error}")) from None
    if not result:
        status = getattr(getattr(result, "status", None), "name", "FAILURE").lower()
        raise DeliveryError(
            mask("; ".join(problems)) if problems else f"the service did not accept the message ({status})"
        )


class _MaskFilter(logging.Filter):
    """Rewrite each record's message with secrets masked before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        record.msg = mask(text)
        record.args = None
        return True


_IMPORT_LOCK = threading.Lock()


@cache
def _import_apprise() -> Any:
    mask_filter = _MaskFilter()
    for name in ("apprise", "urllib3.connectionpool"):
        logging.getLogger(name).addFilter(mask_filter)
    import apprise

    return apprise


def _apprise() -> Any:
    # Worker threads may deliver at the same moment: the filters must be installed once.
    with _IMPORT_LOCK:
        return _import_apprise()
