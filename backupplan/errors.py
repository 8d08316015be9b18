"""The error tree and the exit codes.

Library code raises; only `backupplan.cli.exits.run_cli` prints and picks the exit code:
0 all good, 1 a job failed or the plan is invalid, 2 usage, 3 internal error (with a crash
report), 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class BackupplanError(Exception):
    """An expected failure the user can act on. Its message is shown as is; exit code 1."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Problem:
    """One located problem in a plan file: `file:line:col: path: message (hint)`."""

    file: str
    message: str
    line: int | None = None
    column: int | None = None
    path: str = ""
    hint: str = ""

    def render(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        text = f"{where}: "
        if self.path:
            text += f"{self.path}: "
        text += " ".join(self.message.split("\n"))
        if self.hint:
            text += f" ({self.hint})"
        return text


class PlanError(BackupplanError):
    """The plan cannot be used; carries every problem found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(problem.render() for problem in self.problems))


class StateError(BackupplanError):
    """The state directory or journal cannot be used as asked."""


class JobBusyError(BackupplanError):
    """A job is already running in another process."""


class EngineError(BackupplanError):
    """A program could not be started or stopped, or a transfer cannot be built as asked."""
