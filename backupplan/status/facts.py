"""Facts about this machine that the status document carries besides the journal's state: the
host's name, what keeps the status fresh (a daemon, OS timers, or nothing), and the state dir's
free space. Each is read when a document is built; `build_status` itself reads no clock, file
or lock."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from backupplan.plan.loaded import named_host
from backupplan.status.document import HEARTBEAT, Keeper
from backupplan.units import format_size

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan

FULL_BELOW = 1024 * 1024  # a state dir with less free space than this cannot record a run


def keeper_of(loaded: LoadedPlan | None, state_dir: Path) -> Keeper:
    """Given the plan (or None) and its state dir, return what keeps its status fresh: a daemon
    when one holds the state dir's daemon lock, else OS timers when any enabled job has a
    schedule (`backupplan systemd` / `cron` run `apply` at every slot), else nothing."""
    from backupplan.journal.locks import DAEMON_LOCK, lock_holder

    with contextlib.suppress(Exception):  # an unreadable lock says nothing about a daemon
        if lock_holder(state_dir, DAEMON_LOCK) is not None:
            return Keeper("daemon", HEARTBEAT)
    return Keeper(without_daemon(loaded))


def without_daemon(loaded: LoadedPlan | None) -> Literal["timer", "manual"]:
    """What keeps the plan's status fresh when no daemon runs: OS timers when any enabled job has
    a schedule, else nothing (`manual`)."""
    if loaded is not None and any(job.enabled and job.schedule for job in loaded.jobs.values()):
        return "timer"
    return "manual"


@dataclass(frozen=True)
class StateSpace:
    """The state dir's file system: free and total bytes, and what is wrong with it, if anything."""

    path: str
    free_bytes: int | None
    total_bytes: int | None
    problem: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "free_bytes": self.free_bytes,
            "total_bytes": self.total_bytes,
            "problem": self.problem,
        }


def state_space(state_dir: Path) -> StateSpace:
    """Given a state dir, return its free space and a problem when it is full, read-only or not
    writable by this process (runs cannot be recorded there)."""
    probe = state_dir if state_dir.exists() else state_dir.parent
    try:
        stats = os.statvfs(probe)
    except OSError as error:
        return StateSpace(str(state_dir), None, None, f"cannot be read: {error.strerror or error}")
    free, total = stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize
    problem = None
    if stats.f_flag & os.ST_RDONLY:
        problem = "is on a read-only file system: no run can be recorded; remount it or move state_dir"
    elif free < FULL_BELOW:
        problem = (
            f"is full: {format_size(free)} free; no run can be recorded until space is freed "
            "(free some space or move state_dir)"
        )
    elif not os.access(probe, os.W_OK):
        problem = "cannot be written by this user: no run can be recorded; fix its owner or permissions"
    return StateSpace(str(state_dir), free, total, problem)


def machine_facts(loaded: LoadedPlan | None, state_dir: Path, keeper: Keeper | None = None) -> dict[str, Any]:
    """The keyword arguments of `build_status` that describe this machine (`keeper` when the
    caller knows it, e.g. the daemon itself)."""
    return {
        "host": loaded.host if loaded is not None and loaded.host else named_host(),
        "keeper": keeper or keeper_of(loaded, state_dir),
        "state_space": state_space(state_dir),
        "publish": publish_facts(loaded),
    }


def publish_facts(loaded: LoadedPlan | None) -> dict[str, Any] | None:
    """The `publish` section of the status document: where this host publishes and how the last
    uploads went (None when it does not publish). See docs/fleet.md."""
    from backupplan.status.publish import read_publish_state, target_of

    target = target_of(loaded) if loaded is not None else None
    if loaded is None or target is None:
        return None
    recorded = read_publish_state(loaded.state_dir)
    facts: dict[str, Any] = {
        "to": target.shown,
        "site": target.site,
        "every": target.every,
        "last_attempt": None,
        "last_ok": None,
        "error": None,
        "failing_since": None,
    }
    if recorded is not None and recorded.to == target.shown:
        facts.update(recorded.to_json())
    return facts
