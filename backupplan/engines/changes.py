"""What a transfer changed at the destination, counted from the engine's per-file lines: files
added, changed (content rewritten) and deleted. Directories and metadata-only updates (a new mode
or time) are not counted. Each counted path can go on to a sink (the run's changes list)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ChangeKind = Literal["+", "~", "-"]  # added, changed, deleted
SAMPLE = 20  # paths of each kind kept in memory, for a held run's report


@dataclass
class Changes:
    """Counts across every attempt of one transfer (a retry itemizes only what is left)."""

    sink: Callable[[ChangeKind, str], None] | None = None
    # Paths that look added but are not: a snapshot's clone lost them only because their
    # attributes changed (they are written anew rather than changed through a shared inode).
    unchanged: frozenset[str] = frozenset()
    added: int = 0
    changed: int = 0
    deleted: int = 0
    samples: dict[ChangeKind, list[str]] = field(default_factory=lambda: {"+": [], "~": [], "-": []})

    def count(self, kind: ChangeKind, name: str) -> None:
        """Given one change and the path as the engine printed it, count it."""
        if kind == "+" and name in self.unchanged:
            return
        if kind == "+":
            self.added += 1
        elif kind == "~":
            self.changed += 1
        else:
            self.deleted += 1
        sample = self.samples[kind]
        if len(sample) < SAMPLE:
            sample.append(name)
        if self.sink is not None:
            self.sink(kind, name)

    @property
    def total(self) -> int:
        return self.added + self.changed + self.deleted

    def as_record(self) -> dict[str, int]:
        """`{"added": N, "changed": N, "deleted": N}`: what run.finished and status.json carry."""
        return {"added": self.added, "changed": self.changed, "deleted": self.deleted}
