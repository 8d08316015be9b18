"""What runs tell the rest of the program: how a run ended (RunResult), what happens while it goes
(RunEvent), and why it was started (Trigger)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from backupplan.secrets import mask

if TYPE_CHECKING:
    from backupplan.engines import Outcome, Progress

Trigger = Literal["manual", "schedule", "catch_up", "resume", "apply"]


@dataclass(frozen=True)
class RunResult:
    """How one run ended, for summaries and exit codes."""

    job: str
    run: str
    status: str  # succeeded, warning, failed, timed_out, interrupted
    reason: str | None
    duration: float
    bytes: int = 0
    files: int = 0
    exit_code: int | None = None
    attempts: int = 0
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "warning")


@dataclass(frozen=True)
class RunEvent:
    """What a run tells whoever shows it: started, progress, note (a retry, a hook), finished."""

    kind: Literal["started", "progress", "note", "finished"]
    job: str
    run: str
    progress: Progress | None = None
    message: str = ""
    result: RunResult | None = None


def status_of(outcome: Outcome) -> tuple[str, str | None]:
    """The run's status and reason for an engine outcome."""
    if outcome.kind == "ok":
        return "succeeded", None
    if outcome.kind == "warning":
        return "warning", mask(outcome.message)
    if outcome.stopped == "timeout":
        return "timed_out", mask(outcome.message)
    message = mask(outcome.message)
    return "failed", message + (f" ({outcome.hint})" if outcome.hint else "")
