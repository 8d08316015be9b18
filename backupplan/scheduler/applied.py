"""The last applied plan, kept in the state dir as `applied.json` for `plan` to diff against.

    {"format": 1, "digest": "sha256:…", "path": "/srv/backups.yaml", "applied_at": "…Z",
     "plan": {…LoadedPlan.normalized()…}}

It is written atomically (temp file, fsync, rename), 0600, after the journal's `plan.applied`
record; the plan in it has its secrets masked. A missing file means "never applied".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from backupplan.errors import StateError
from backupplan.fsutil import atomic_write
from backupplan.journal.records import format_timestamp

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan

APPLIED_FILE = "applied.json"
APPLIED_FORMAT = 1


@dataclass(frozen=True)
class Applied:
    """The plan as it was applied: its digest, its file, when, and its normalized form."""

    digest: str
    path: str
    applied_at: str
    plan: dict[str, Any]


def applied_path(state_dir: Path) -> Path:
    return state_dir / APPLIED_FILE


def read_applied(state_dir: Path) -> Applied | None:
    """Given a state dir, return the last applied plan, or None when none was applied; raise
    StateError when the file cannot be read or is not what `apply` writes."""
    path = applied_path(state_dir)
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateError(f"cannot read {path}: {error.strerror or error}") from None
    except orjson.JSONDecodeError:
        raw = None
    if (
        not isinstance(raw, dict)
        or raw.get("format") != APPLIED_FORMAT
        or not isinstance(raw.get("plan"), dict)
        or not isinstance(raw.get("digest"), str)
    ):
        raise StateError(
            f"{path} is not a plan applied by this backupplan; move it away and run "
            "`backupplan apply` to record the plan again"
        )
    return Applied(raw["digest"], str(raw.get("path") or ""), str(raw.get("applied_at") or ""), raw["plan"])


def write_applied(loaded: LoadedPlan, at: datetime) -> Applied:
    """Record `loaded` as the applied plan (atomically, 0600); return what was written. Raise
    StateError naming the file when it cannot be written."""
    applied = Applied(loaded.digest, str(loaded.path), format_timestamp(at), loaded.normalized())
    document = {
        "format": APPLIED_FORMAT,
        "digest": applied.digest,
        "path": applied.path,
        "applied_at": applied.applied_at,
        "plan": applied.plan,
    }
    path = applied_path(loaded.state_dir)
    try:
        atomic_write(path, orjson.dumps(document, option=orjson.OPT_INDENT_2), mode=0o600)
    except OSError as error:
        raise StateError(
            f"cannot write {path}: {error.strerror or error}; check the disk and the state dir"
        ) from None
    return applied
