"""What is known to be wrong with a journal: the `journal` section of the status document."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ProblemKind = Literal["torn_tail", "damaged", "newer_format", "unwritable"]
# Problems that make the journal unhealthy; a repaired torn tail is listed but leaves it healthy.
UNHEALTHY: frozenset[str] = frozenset({"damaged", "newer_format"})
TORN_TAIL_SHOWN_FOR = 7 * 86400  # seconds a repaired torn tail stays listed


@dataclass(frozen=True)
class JournalProblem:
    """One problem, as listed in `journal.problems` of the status document."""

    kind: ProblemKind
    message: str
    at: str  # RFC 3339 UTC, seconds
    quarantine: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "at": self.at, "quarantine": self.quarantine}


@dataclass(frozen=True)
class JournalHealth:
    """The journal's size and problems, as of the last read."""

    path: Path
    records: int
    last_seq: int
    problems: tuple[JournalProblem, ...] = field(default_factory=tuple)
    read_only: bool = False

    @property
    def healthy(self) -> bool:
        return not any(problem.kind in UNHEALTHY for problem in self.problems)
