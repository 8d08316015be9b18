"""What /proc says about a process, and how to stop one that outlived the backupplan that started it.

A pid alone does not name a process over time: pids are reused. The triple (pid, start time, boot
id) does: the start time (clock ticks after boot, field 22 of /proc/PID/stat) cannot repeat for
one pid within a boot, and the boot id changes at every boot. The runner journals a child's
`ChildIdentity` as soon as it starts, so that after a crash `stop_survivor` can stop exactly that
process group, and never an unrelated process that happens to have the same pid now.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from backupplan.errors import EngineError

PROC = Path("/proc")
BOOT_ID = PROC / "sys/kernel/random/boot_id"
SURVIVOR_KILL_WAIT = 5.0
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class ChildIdentity:
    """A started child: pid, process group, start time (clock ticks after boot) and boot id."""

    pid: int
    pgid: int
    start_time: int
    boot_id: str

    def to_record(self) -> dict[str, int | str]:
        """Return the identity as a JSON-ready mapping (what the journal stores)."""
        return {"pid": self.pid, "pgid": self.pgid, "start_time": self.start_time, "boot_id": self.boot_id}

    @classmethod
    def from_record(cls, data: Mapping[str, object]) -> ChildIdentity:
        """Given a mapping made by `to_record`, return the identity; raise ValueError when it is not one."""
        try:
            pid, pgid, start_time, boot = data["pid"], data["pgid"], data["start_time"], data["boot_id"]
        except KeyError as missing:
            raise ValueError(f"a child identity needs {missing.args[0]!r}") from None
        if not all(isinstance(number, int) and number > 0 for number in (pid, pgid, start_time)):
            raise ValueError("pid, pgid and start_time of a child identity must be positive integers")
        if not isinstance(boot, str) or not boot:
            raise ValueError("the boot_id of a child identity must be a non-empty string")
        assert isinstance(pid, int) and isinstance(pgid, int) and isinstance(start_time, int)
        return cls(pid=pid, pgid=pgid, start_time=start_time, boot_id=boot)


@dataclass(frozen=True)
class ProcessStat:
    """The fields of /proc/PID/stat that matter here."""

    pid: int
    state: str
    parent: int
    pgid: int
    session: int
    start_time: int


@functools.cache
def boot_id() -> str:
    """Return this boot's id (constant until the machine restarts)."""
    return BOOT_ID.read_text(encoding="ascii").strip()


def read_stat(pid: int) -> ProcessStat | None:
    """Given a pid, return its /proc/PID/stat fields, or None when no such process exists."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw.rsplit(b")", 1)[1].split()
    return ProcessStat(
        pid=pid,
        state=fields[0].decode("ascii"),
        parent=int(fields[1]),
        pgid=int(fields[2]),
        session=int(fields[3]),
        start_time=int(fields[19]),
    )


def identity_of(pid: int) -> ChildIdentity:
    """Given the pid of a running (or not yet reaped) process, return its identity; raise
    ProcessLookupError when it does not exist."""
    stat = read_stat(pid)
    if stat is None:
        raise ProcessLookupError(pid)
    return ChildIdentity(pid=pid, pgid=stat.pgid, start_time=stat.start_time, boot_id=boot_id())


def group_members(pgid: int) -> list[ProcessStat]:
    """Given a process group id, return its living members (zombies are already dead)."""
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = read_stat(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # it exited while we looked
        if stat is not None and stat.pgid == pgid and stat.state != "Z":
            members.append(stat)
    return members


def _survivors(identity: ChildIdentity) -> list[ProcessStat]:
    # Members of the recorded group that started no earlier than the recorded child, in the session
    # the child created (it was started with setsid, so session == pgid == pid). A pid cannot be
    # reused while a process group still refers to it, so these are the child's own descendants.
    return [
        member
        for member in group_members(identity.pgid)
        if member.start_time >= identity.start_time and member.session == identity.pgid
    ]


def _signal_group(pgid: int, signal_number: int) -> None:
    try:
        os.killpg(pgid, signal_number)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise EngineError(
            f"cannot stop process group {pgid}: it belongs to another user "
            "(run backupplan as the user that started it)"
        ) from None


def _wait_gone(identity: ChildIdentity, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if not _survivors(identity):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


def stop_survivor(identity: ChildIdentity, grace: float = 10.0) -> bool:
    """Given the identity of a child a previous backupplan started, stop its process group if it
    still runs: TERM, then KILL after `grace` seconds. Return True when something was stopped,
    False when nothing of it is left (or the pid now names an unrelated process, which is never
    touched). Raise EngineError when the group belongs to another user."""
    if identity.boot_id != boot_id():
        return False  # the machine restarted since: nothing of that run can be alive
    leader = read_stat(identity.pid)
    if leader is not None and leader.state != "Z" and leader.start_time != identity.start_time:
        return False  # the pid was reused, so the recorded group is gone
    if not _survivors(identity):
        return False
    _signal_group(identity.pgid, signal.SIGTERM)
    if _wait_gone(identity, grace):
        return True
    _signal_group(identity.pgid, signal.SIGKILL)
    _wait_gone(identity, SURVIVOR_KILL_WAIT)
    return True
