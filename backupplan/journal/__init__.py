"""The state journal: an append-only, checksummed event log shared by every backupplan process,
folded into per-job state, compacted, with per-job locks. See docs/journal.md."""

from __future__ import annotations

from backupplan.journal.files import UnwritableError
from backupplan.journal.health import JournalHealth, JournalProblem
from backupplan.journal.locks import DAEMON_LOCK, JobLock, LockHolder, StateLock, lock_holder
from backupplan.journal.reader import JOURNAL_FILE
from backupplan.journal.records import FORMAT_VERSION, Record, new_run_id
from backupplan.journal.state import (
    AppliedPlan,
    Interruption,
    JobState,
    RunSummary,
    State,
    VerifyResult,
)
from backupplan.journal.store import COMPACT_AFTER_RECORDS, DEFAULT_KEEP_RUNS, Journal, RepairReport

__all__ = [
    "COMPACT_AFTER_RECORDS",
    "DAEMON_LOCK",
    "DEFAULT_KEEP_RUNS",
    "FORMAT_VERSION",
    "JOURNAL_FILE",
    "AppliedPlan",
    "Interruption",
    "JobLock",
    "JobState",
    "Journal",
    "JournalHealth",
    "JournalProblem",
    "LockHolder",
    "Record",
    "RepairReport",
    "RunSummary",
    "State",
    "StateLock",
    "UnwritableError",
    "VerifyResult",
    "lock_holder",
    "new_run_id",
]
