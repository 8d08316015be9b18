"""Verification: compare the copy with the source, after a run (`verify: quick | checksum`) or on
demand (`backupplan verify JOB`).

The engine does the comparing (rsync: a dry run with `--itemize-changes`, with `--checksum` in
checksum mode; rclone: `rclone check`); nothing is written. A difference in contents (a missing,
extra, changed or unreadable file) fails the run as `verify failed: N differences`, with every
difference in the run's log; differences in attributes alone make it a warning. The result is
journaled as `verify.finished` and shows in `status --json` and on the site.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backupplan.engines import Difference, Outcome, TransferSpec, get_engine
from backupplan.engines.base import VerifyMode
from backupplan.errors import BackupplanError
from backupplan.secrets import mask

LOGGED_DIFFERENCES = 10_000  # beyond this the log gets the count, not every line
LABELS = {"missing": "+ missing", "changed": "~ changed", "extra": "- extra", "metadata": "~ attributes",
          "error": "! unreadable"}  # fmt: skip


@dataclass(frozen=True)
class VerifyReport:
    """The verdict of one verification and the differences behind it."""

    mode: VerifyMode
    outcome: Outcome
    differences: list[Difference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True unless contents differ or the comparison itself failed."""
        return self.outcome.succeeded

    @property
    def stopped(self) -> bool:
        return self.outcome.stopped is not None

    def summary(self) -> str:
        """One line for people: `verify failed: 3 differences`, `no differences`, …"""
        count = len(self.differences)
        plural = "s" if count != 1 else ""
        if self.outcome.kind == "fatal" and self.differences:
            return f"verify failed: {count} difference{plural}"
        if self.outcome.kind == "fatal":
            return f"verify could not compare: {mask(self.outcome.message)}"
        if self.differences:
            return f"verify found {count} difference{plural} in attributes only"
        if self.outcome.kind == "warning":
            return f"verify: no differences ({mask(self.outcome.message)})"
        return "verify: no differences"

    def record(self) -> dict[str, Any]:
        """The `verify.finished` journal record's data."""
        return {
            "status": "ok" if self.ok else "failed",
            "differences": len(self.differences),
            "mode": self.mode,
            "message": mask(self.outcome.message),
        }

    def lines(self, limit: int = LOGGED_DIFFERENCES) -> list[str]:
        """Every difference on its own line (at most `limit`); without any, the comparison's errors."""
        shown = [
            f"{LABELS.get(item.kind, item.kind)}  {mask(item.path)}" for item in self.differences[:limit]
        ]
        if len(self.differences) > limit:
            shown.append(f"… and {len(self.differences) - limit} more")
        if self.differences:  # the engine's error lines then only restate them (rclone: "md5 differ")
            return shown
        return [f"! {mask(error)}" for error in self.errors[:50]]


async def verify_copy(
    engine_name: str,
    spec: TransferSpec,
    mode: VerifyMode,
    *,
    timeout: float | None = None,
    stop_grace: float = 10.0,
    cancel: asyncio.Event | None = None,
    on_output: Callable[[str, bytes], None] | None = None,
    metadata: bool = False,
) -> VerifyReport:
    """Given a transfer (its destination being the copy to check) and a mode, compare and return the
    report. `on_output(stream, record)` sees the engine's stderr (for the log). With `metadata`,
    differences of attributes (modes, times, owners, ACLs, xattrs, hard links) fail it too."""
    from backupplan.process.execute import run_process

    engine = get_engine(engine_name)
    parser = engine.verify_parser()

    def on_stderr(record: bytes) -> None:
        parser.feed(record, "stderr")
        if on_output is not None:
            on_output("stderr", record)

    try:
        result = await run_process(
            engine.verify_argv(spec, mode),
            env=engine.environment(spec, os.environ),
            on_stdout=lambda record: parser.feed(record, "stdout"),
            on_stderr=on_stderr,
            timeout=timeout,
            stop_grace=stop_grace,
            cancel=cancel,
        )
    except BackupplanError as error:
        return VerifyReport(mode, Outcome("fatal", str(error), "install it, or check PATH"))
    if result.timed_out or result.cancelled:
        if result.timed_out:
            outcome = Outcome(
                "fatal", "the verification reached the run's time limit", "", None, None, "timeout"
            )
        else:
            outcome = Outcome("fatal", "verification was stopped on request", "", None, None, "cancel")
        return VerifyReport(mode, outcome)
    outcome = engine.verify_outcome(result.exit_code, result.signal, parser, metadata=metadata)
    return VerifyReport(mode, outcome, parser.differences(), parser.errors())
