"""Journal.last_compaction: when the journal was last compacted, as every reader sees it."""

from __future__ import annotations

from pathlib import Path

from backupplan.journal import Journal
from tests.journal.helpers import Clock


def test_never_compacted_then_compacted_here_and_seen_elsewhere(state_dir: Path, clock: Clock) -> None:
    with Journal.open(state_dir, clock=clock, compact_after=None) as writer:
        writer.append("job.paused", job="a")
        assert writer.last_compaction is None
        with Journal.open(state_dir, read_only=True, clock=clock) as reader:
            assert reader.last_compaction is None
            clock.advance(60)
            writer.compact()
            assert writer.last_compaction == "2026-11-28T12:01:00.000Z"
            writer.append("job.resumed", job="a")
            reader.refresh()  # follows the compaction done by the other handle
            assert reader.last_compaction == "2026-11-28T12:01:00.000Z"
    with Journal.open(state_dir, read_only=True, clock=clock) as reopened:
        assert reopened.last_compaction == "2026-11-28T12:01:00.000Z"
