"""The status document of a plan on this machine, built the way `backupplan status` builds it,
but with the journal opened read-only: a check never repairs, records or compacts anything, and
never creates a state dir."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupplan.errors import StateError

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan

JOURNAL_FILE = "journal.jsonl"


def local_status(plan: LoadedPlan, state_dir: Path, *, keep_runs: int, now: datetime) -> dict[str, Any]:
    """Given a loaded plan, its state dir and the time, return its status document with this
    machine's facts; raise StateError when the journal is there but cannot be read (a check run
    as another user than backupplan: judging an empty journal would say all is well)."""
    from backupplan.journal import Journal
    from backupplan.status.document import build_status
    from backupplan.status.facts import machine_facts

    ensure_readable(state_dir)
    with Journal.open(state_dir, read_only=True, keep_runs=keep_runs) as journal:
        return build_status(
            journal.state,
            journal.health,
            plan=plan,
            now=now,
            progress_dir=state_dir / "progress",
            **machine_facts(plan, state_dir),
        )


def ensure_readable(state_dir: Path) -> None:
    """Raise StateError when `state_dir` exists but this user cannot read it or its journal. A
    state dir that does not exist is fine: the plan was never applied, and the document says so."""
    try:
        os.stat(state_dir)
    except FileNotFoundError:
        return
    except OSError as error:
        raise StateError(_cannot_read(state_dir, error.strerror or str(error))) from None
    journal = state_dir / JOURNAL_FILE
    if not os.access(state_dir, os.R_OK | os.X_OK):
        raise StateError(_cannot_read(state_dir, "permission denied"))
    if journal.exists() and not os.access(journal, os.R_OK):
        raise StateError(_cannot_read(journal, "permission denied"))


def _cannot_read(path: Path, why: str) -> str:
    return (
        f"cannot read {path}: {why}; run the check as the user backupplan runs as, "
        "or judge its published status.json with --status"
    )
