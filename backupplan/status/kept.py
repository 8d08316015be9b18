"""The status document kept between commands: `status` and `check` of a plan whose journal has not
changed print the document built last time, restamped to now, instead of reading the journal and
the plan's model again (docs/performance.md).

- **Where**: in the user's cache beside the kept plan (plan/cache.py), one 0600 file per plan
  path in a 0700 `~/.cache/backupplan/status/`. Only a plan that is kept itself is concerned (no
  `${` in its text, `BACKUPPLAN_PLAN_CACHE` not `off`).
- **What**: the document as `build_status` made it, kept by the command that built it (`status`,
  `check`, or a run or the daemon after a journal event: `keep_current`), and only when it has
  nothing to report about the machine (a healthy journal without problems, a state
  dir with space that can be written).
- **Its basis**: the kept plan's key (the plan's bytes and everything a loaded plan depends on),
  the identity of the journal and of publish.json (device, inode, size, modification and change
  times), and the code that builds the document. Any change builds the document again; the basis
  is taken before the document is built, so a record appended meanwhile is never hidden.
- **Read back**, it is `restamped` to now, as the daemon's heartbeat does: overdue flags and
  freshness are judged again, and when time changed more than that (a slot passed, a run is
  going, a failure or an interruption may leave its window, the clock went back) it is built
  again. Whether a daemon
  keeps the status and the state dir's space are read again every time; a state dir with a
  problem builds the document again (which reports it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from backupplan.journal import JOURNAL_FILE
from backupplan.plan import cache
from backupplan.plan.load import kept_key
from backupplan.plan.loaded import PlanFacts
from backupplan.status.document import Keeper, restamped, stamp
from backupplan.status.facts import keeper_of, state_space, without_daemon
from backupplan.status.publish import PUBLISH_STATE

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.plan.loaded import LoadedPlan

_FORMAT = 1
# The code that folds the journal and builds the document.
_CODE = (Path(__file__).resolve().parents[1] / "journal", Path(__file__).resolve().parent)
_STATE_FILES = (JOURNAL_FILE, PUBLISH_STATE)  # the files of the state dir a document is built from


@dataclass(frozen=True)
class Basis:
    """What a kept document must have been built from to be shown now: `digest` of it all, the
    plan's facts, and the kept file."""

    digest: str
    facts: PlanFacts
    file: Path


def status_of(
    plan_path: str, now: datetime, build: Callable[[], tuple[dict[str, Any], LoadedPlan]]
) -> tuple[dict[str, Any], PlanFacts]:
    """The status document of the plan at `plan_path` as of `now`, and the plan's facts: the kept
    document when it may be shown, else the one `build()` makes from the plan it loads (kept for
    the next command)."""
    taken = basis(plan_path)
    found = read(taken, now) if taken is not None else None
    if taken is not None and found is not None:
        return found, taken.facts
    document, loaded = build()
    if taken is not None:
        keep(taken, document, without_daemon(loaded))
    return document, loaded.facts()


def basis(plan_path: str) -> Basis | None:
    """The basis of a status document of the plan at `plan_path` built now, or None when the
    plan is not kept (so neither is its status). Take it before building the document."""
    kept = kept_key(plan_path)
    if kept is None:
        return None
    plan_key, facts = kept
    stamps = [_stamp(facts.state_dir / name) for name in _STATE_FILES]
    return _basis(plan_key, facts, Path(plan_path).expanduser().absolute(), stamps)


def keep_current(loaded: LoadedPlan, journal: Journal, seq: int, document: dict[str, Any]) -> None:
    """Keep a document that a run or the daemon built from its open `journal` at `seq`
    (status/sitefeed.py), so that the `status` after a run need not build it again: only when it
    is what a new build would show (the journal file holds nothing the document lacks, no run is
    going, the plan is kept under the key it was loaded with) and the plan does not publish (its
    uploads rewrite publish.json from another thread at any time)."""
    if not loaded.key or loaded.plan.settings.publish is not None or journal.state.open_runs():
        return
    try:
        status = os.stat(journal.path)
    except OSError:
        return
    if not journal.describes(status) or journal.state.last_seq != seq:
        return
    stamps = [_stamp_of(status), _stamp(loaded.state_dir / PUBLISH_STATE)]
    keep(_basis(loaded.key, loaded.facts(), loaded.path, stamps), document, without_daemon(loaded))


def _basis(plan_key: str, facts: PlanFacts, absolute: Path, stamps: list[str]) -> Basis:
    digest = hashlib.sha256()
    for part in (str(_FORMAT), plan_key, *stamps, cache.code_stamp(_CODE)):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return Basis(digest.hexdigest(), facts, cache.file_for(absolute, "status", ".json"))


def read(kept: Basis, now: datetime) -> dict[str, Any] | None:
    """The document kept under `kept`, as of `now`; None when there is none to trust or it must
    be built again (see above)."""
    with cache.read_private(kept.file) as stream:
        if stream is None:
            return None
        try:
            entry = orjson.loads(stream.read())
        except (OSError, orjson.JSONDecodeError):
            return None
    if not isinstance(entry, dict) or entry.get("basis") != kept.digest:
        return None
    if entry["document"]["generated_at"] > stamp(now):
        return None  # the clock went back: slots between now and then were not looked for
    space = state_space(kept.facts.state_dir)
    if space.problem is not None:
        return None
    keeper = keeper_of(None, kept.facts.state_dir)  # a daemon, else "manual": the plan is not read
    if keeper.kind != "daemon":
        keeper = Keeper(entry["unattended"])
    document = restamped(entry["document"], now, keeper)
    return None if document is None else {**document, "state_dir": space.to_json()}


def keep(kept: Basis, document: dict[str, Any], unattended: Literal["timer", "manual"]) -> None:
    """Keep `document`, built after `kept` was taken, when it has nothing to say about the machine.
    `unattended`: what keeps the status fresh when no daemon runs (status.facts.without_daemon)."""
    journal, space = document["journal"], document["state_dir"]
    if not journal["healthy"] or journal["problems"] or space is None or space["problem"]:
        return
    entry = {"basis": kept.digest, "unattended": unattended, "document": document}
    cache.write_private(kept.file, orjson.dumps(entry))


def _stamp(path: Path) -> str:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return "-"
    except OSError as error:
        return f"unreadable {error.errno}"
    return _stamp_of(status)


def _stamp_of(status: os.stat_result) -> str:
    return f"{status.st_dev}:{status.st_ino}:{status.st_size}:{status.st_mtime_ns}:{status.st_ctime_ns}"
