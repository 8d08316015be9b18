"""The state dir: where it is, who may read it, free space, the journal's integrity and last
compaction, locks held (and by which live process), runs waiting for recovery.

The journal is opened read-only: doctor changes nothing. A torn end is reported, not cut; damage is
reported, not copied aside; a run whose process died is shown as interrupted, not recorded so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupplan.doctor.files import (
    can,
    kind_of,
    low_space,
    nearest_existing,
    space_facts,
    space_text,
    user_text,
    why_not_writable,
)
from backupplan.doctor.model import Check, Context, Status, when
from backupplan.errors import StateError
from backupplan.journal.records import rfc3339
from backupplan.status.facts import FULL_BELOW

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.plan.load import LoadedPlan

REPAIR_HINT = "`backupplan journal repair` drops the damaged lines (keeping a copy)"


def _check(
    name: str, status: Status, message: str, hint: str | None = None, facts: Mapping[str, Any] | None = None
) -> Check:
    return Check("state", name, status, message, hint, facts or {})


def folder_checks(state_dir: Path, context: Context) -> list[Check]:
    """Given the state dir, return checks of its existence, permissions, writability and space."""
    kind = kind_of(state_dir)
    facts = {"path": str(state_dir), "exists": kind != "missing"}
    if kind == "missing":
        parent = nearest_existing(state_dir.parent)
        if kind_of(parent) == "folder" and can(parent, os.W_OK | os.X_OK):
            return [
                _check(
                    "folder", "info", f"{state_dir} does not exist yet: the first run creates it", None, facts
                )
            ]
        why, hint = why_not_writable(parent)
        text = f"{state_dir} does not exist and cannot be created in {parent}: {why}"
        return [_check("folder", "fail", text, hint, facts)]
    if kind == "unreachable":
        text = f"{state_dir} cannot be reached by this user: nothing in it can be read or recorded"
        return [_check("folder", "fail", text, "run backupplan as the user that runs the backups", facts)]
    if kind == "file":
        return [
            _check(
                "folder", "fail", f"{state_dir} is not a folder", "set settings.state_dir to a folder", facts
            )
        ]
    return [permissions_check(state_dir), writable_check(state_dir), space_check(state_dir, context)]


def permissions_check(state_dir: Path) -> Check:
    """Private (0700, ours) is ok; readable or writable by others is a warning, a failure when the
    folder is not ours (backupplan refuses a folder others may write that it cannot tighten)."""
    status = state_dir.stat()
    mode = status.st_mode & 0o777
    mine = status.st_uid == os.geteuid()
    facts = {"path": str(state_dir), "mode": f"{mode:04o}", "owner_uid": status.st_uid}
    owner = user_text(status.st_uid)
    tighten = f"chmod 700 {state_dir} (backupplan also tightens it the next time it writes there)"
    if mode & 0o022 and not mine:
        text = f"{state_dir} can be written by other users (mode {mode:04o}, owner {owner}): it is refused"
        hint = "chown it to the user that runs backups and chmod 700 it, or set settings.state_dir"
        return _check("permissions", "fail", text, hint, facts)
    if mode & 0o022:
        text = (
            f"{state_dir} can be written by other users (mode {mode:04o}): they could forge journal records"
        )
        return _check("permissions", "warn", text, tighten, facts)
    if mode & 0o077:
        text = (
            f"{state_dir} can be read by other users (mode {mode:04o}): the journal and the logs show "
            "paths and file names"
        )
        return _check("permissions", "warn", text, tighten, facts)
    if not mine:
        text = f"{state_dir} is private (mode {mode:04o}) but owned by {owner}"
        return _check("permissions", "warn", text, "run backupplan as the folder's owner", facts)
    return _check(
        "permissions", "ok", f"{state_dir} is private (mode {mode:04o}, owner {owner})", None, facts
    )


def writable_check(state_dir: Path) -> Check:
    """The state dir (and its journal) must be writable, or no run can be recorded."""
    facts = {"path": str(state_dir)}
    journal = state_dir / "journal.jsonl"
    if not can(state_dir, os.W_OK | os.X_OK):
        why, hint = why_not_writable(state_dir)
        return _check(
            "writable", "fail", f"{state_dir} cannot be written: {why}; no run can be recorded", hint, facts
        )
    if kind_of(journal) == "file" and not can(journal, os.W_OK):
        text = f"{journal} cannot be written by this user; no run can be recorded"
        return _check("writable", "fail", text, f"fix the owner or mode of {journal}", facts)
    return _check("writable", "ok", f"{state_dir} is writable", None, facts)


def space_check(state_dir: Path, context: Context) -> Check:
    """Free space where the journal and the logs are written."""
    try:
        space = context.space(state_dir)
    except OSError as error:
        return _check("space", "warn", f"free space of {state_dir} unknown: {error.strerror or error}")
    if space.free < FULL_BELOW:
        hint = "free some space or move settings.state_dir; backups go on once there is room"
        return _check(
            "space", "fail", f"{state_dir} is full: no run can be recorded ({space_text(space)})",
            hint, space_facts(space),
        )  # fmt: skip
    if low_space(space):
        hint = "free some space: a full disk stops the journal and the logs"
        return _check("space", "warn", f"{state_dir}: only {space_text(space)}", hint, space_facts(space))
    return _check("space", "ok", f"{state_dir}: {space_text(space)}", None, space_facts(space))


def journal_checks(journal: Journal, zone: tzinfo) -> list[Check]:
    """The journal's size and last compaction (one line), then one line per problem found."""
    health = journal.health
    compacted = journal.last_compaction
    facts = {
        "path": str(health.path),
        "records": health.records,
        "last_seq": health.last_seq,
        "healthy": health.healthy,
        "last_compaction": None if compacted is None else rfc3339(compacted),
    }
    kind = kind_of(health.path)
    if kind == "unreachable" or (kind == "file" and not can(health.path, os.R_OK)):
        return [_check("journal", "info", "journal not read: this user cannot read it", None, facts)]
    if kind == "missing":
        checks = [_check("journal", "info", "no journal yet: the first run writes it", None, facts)]
    else:
        compaction = f"last compacted {when(compacted, zone)}" if compacted else "never compacted yet"
        healthy = "healthy" if health.healthy else "NOT healthy"
        text = f"journal: {health.records:,} records, {healthy}; {compaction}"
        checks = [_check("journal", "ok" if health.healthy else "info", text, None, facts)]
    seen: dict[str, int] = {}
    for problem in health.problems:
        seen[problem.kind] = seen.get(problem.kind, 0) + 1
        name = f"journal.{problem.kind}" + (f".{seen[problem.kind]}" if seen[problem.kind] > 1 else "")
        found = {"kind": problem.kind, "at": problem.at, "quarantine": problem.quarantine}
        if problem.kind == "damaged":
            kept = f"look at the copy kept at {problem.quarantine}" if problem.quarantine else "backups go on"
            checks.append(
                _check(name, "fail", f"journal damaged: {problem.message}", f"{kept}; {REPAIR_HINT}", found)
            )
        elif problem.kind == "newer_format":
            checks.append(_check(name, "fail", f"journal: {problem.message}", "upgrade backupplan", found))
        elif problem.kind == "torn_tail" and problem.message.endswith("they were removed"):
            text = f"journal: repaired {when(problem.at, zone)}: {problem.message}"
            checks.append(_check(name, "info", text, None, found))
        else:
            hint = "`backupplan status` repairs it now"
            checks.append(_check(name, "warn", f"journal: {problem.message}", hint, found))
    return checks


def lock_checks(loaded: LoadedPlan, journal: Journal) -> list[Check]:
    """Who holds the daemon's and the jobs' locks (pid, command, since when)."""
    from backupplan.journal import DAEMON_LOCK, lock_holder

    state_dir = loaded.state_dir
    checks: list[Check] = []
    daemon_runs = False
    try:
        names = sorted(
            entry.name.removesuffix(".lock")
            for entry in os.scandir(state_dir / "locks")
            if entry.name.endswith(".lock")
        )
    except OSError:
        names = []  # no locks yet, or a folder this user cannot read (reported above)
    for name in names:
        try:
            holder = lock_holder(state_dir, name)
        except (ValueError, StateError):
            continue  # not a lock backupplan made, or one this user cannot open
        if holder is None:
            continue
        who = process_text(holder.pid)
        stamp = holder.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        since = when(stamp, loaded.timezone)
        facts = {"lock": name, "pid": holder.pid, "since": stamp, "command": who}
        if name == DAEMON_LOCK:
            daemon_runs = True
            checks.append(
                _check("lock.daemon", "info", f"the daemon runs: {who}, since {since}", None, facts)
            )
        else:
            checks.append(
                _check(f"lock.{name}", "info", f"{name} is being run by {who}, since {since}", None, facts)
            )
    if not daemon_runs and any(job.schedule and job.enabled for job in loaded.jobs.values()):
        text = (
            "no daemon is running: scheduled jobs run when `backupplan daemon`, a systemd timer or cron "
            "starts them (see `backupplan systemd` and `backupplan cron`)"
        )
        checks.append(_check("lock.daemon", "info", text))
    return checks


def process_text(pid: int) -> str:
    """`pid 1234 (backupplan run photos)`: the holder of a lock, as far as /proc shows it."""
    from backupplan.secrets import mask

    if pid == 0:
        return "a process that has not written its pid yet"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid} (not visible here: another container or PID namespace?)"
    words = [word.decode("utf-8", "backslashreplace") for word in raw.split(b"\0") if word]
    if len(words) > 2 and words[1:3] == ["-m", "backupplan"]:  # `python -m backupplan …`
        words = ["backupplan", *words[3:]]
    elif words and words[0].endswith("/backupplan"):
        words[0] = "backupplan"
    command = " ".join(words)
    if len(command) > 120:
        command = command[:119] + "…"
    return f"pid {pid} ({mask(command)})" if command else f"pid {pid}"


def interruption_checks(journal: Journal, zone: tzinfo) -> list[Check]:
    """One warning per run that a crash interrupted and that still waits for recovery."""
    checks = []
    for item in journal.state.interruptions:
        if item.handled != "pending":
            continue
        facts = {"job": item.job, "run": item.run, "detected_at": rfc3339(item.detected_at)}
        text = (
            f"{item.job}: run {item.run} was interrupted by a crash (found {when(item.detected_at, zone)}) "
            "and waits for recovery"
        )
        hint = "`backupplan recover` resumes or dismisses it"
        checks.append(_check(f"interrupted.{item.job}.{item.run}", "warn", text, hint, facts))
    return checks
