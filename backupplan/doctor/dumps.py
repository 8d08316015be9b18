"""The jobs' database dumps (docs/dumps.md): are the client programs installed (and which
versions), can the dumps folder in each source be written, and does each database answer its client
(one cheap query, all of them at once, each bounded by the probe timeout)?

Nothing is written to a database or a source. For MySQL and MariaDB the password goes to the
client through a 0600 option file in a private temporary folder, removed at once.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from backupplan.doctor.model import Check, Context, Status
from backupplan.dumps.clients import (
    PACKAGES,
    client_programs,
    dump_programs,
    find,
    load_programs,
    sqlite_version,
    version_of,
)
from backupplan.dumps.probe import Reached, dump_program, reach, too_old
from backupplan.plan.locations import parse_location

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan
    from backupplan.plan.model import Dump, Job

MAX_PROBES = 8
WRITES = "writes the dumps"


def dump_checks(loaded: LoadedPlan, context: Context) -> list[Check]:
    """Given the plan, return the checks of the dumps of its enabled jobs: one per program they
    need (section tools), one per job's dumps folder and one per database (section locations)."""
    jobs = [(job_id, job) for job_id, job in sorted(loaded.jobs.items()) if job.enabled and job.dumps]
    if not jobs:
        return []
    checks = tool_checks(jobs)
    dumps = [(job_id, dump) for job_id, job in jobs for dump in job.dumps]
    with ThreadPoolExecutor(max_workers=min(MAX_PROBES, len(dumps))) as pool:
        reached = list(pool.map(lambda item: reach(item[1], loaded.base_dir, context.probe_timeout), dumps))
    for job_id, job in jobs:
        checks.append(folder_check(job_id, job, loaded.base_dir))
    for (job_id, dump), found in zip(dumps, reached, strict=True):
        checks.append(database_check(job_id, dump, found))
    return checks


def tool_checks(jobs: list[tuple[str, Job]]) -> list[Check]:
    """One check per program the dumps need: to write them (a failure when missing), to check the
    databases and to load the dumps back (a warning when missing: the dumps still work)."""
    needs: dict[tuple[str, ...], tuple[str, set[str], list[str]]] = {}
    sqlite_users: set[str] = set()
    for job_id, job in jobs:
        for dump in job.dumps:
            who = f"{job_id}.{dump.name}"
            if dump.engine == "sqlite":
                sqlite_users.add(who)
                continue
            for names, role in (
                (dump_programs(dump), WRITES),
                (client_programs(dump), "checks the databases"),
                (load_programs(dump), "loads the dumps"),
            ):
                _, users, roles = needs.setdefault(names, (dump.engine, set(), []))
                users.add(who)
                if role not in roles:
                    roles.append(role)
    checks = [_tool_check(names, *need) for names, need in needs.items()]
    if sqlite_users:
        listed = ", ".join(sorted(sqlite_users))
        text = f"SQLite {sqlite_version()} (Python's sqlite3); {WRITES} of {listed}"
        facts = {"version": sqlite_version(), "needed_by": sorted(sqlite_users)}
        checks.append(Check("tools", "sqlite", "ok", text, None, facts))
    return checks


def _tool_check(names: tuple[str, ...], engine: str, users: set[str], roles: list[str]) -> Check:
    path = find(names)
    listed = ", ".join(sorted(users))
    role = " and ".join(roles)
    facts = {"path": path, "version": None, "needed_by": sorted(users), "programs": list(names)}
    if path is None:
        status: Status = "fail" if WRITES in roles else "warn"
        text = f"{' or '.join(names)} is not installed; it {role} of {listed}"
        return Check("tools", names[0], status, text, f"install {PACKAGES.get(engine, engine)}", facts)
    version = version_of(path)
    facts["version"] = version
    name = Path(path).name
    text = f"{name} {version or '(version unknown)'} at {path}; {role} of {listed}"
    return Check("tools", name, "ok", text, None, facts)


def folder_check(job_id: str, job: Job, base_dir: Path) -> Check:
    """The dumps folder inside the source must exist or be creatable, and be writable."""
    source = Path(parse_location(job.source, job.engine, base_dir).path)
    folder = source / job.dumps_dir
    name, facts = f"{job_id}.dumps_dir", {"path": str(folder)}
    if not source.is_dir():
        text = f"{job_id}: dumps go to {folder} once the source exists"
        return Check("locations", name, "info", text, None, facts)
    nearest = folder
    while not nearest.exists() and nearest != source:
        nearest = nearest.parent
    if not nearest.is_dir() or not os.access(nearest, os.W_OK | os.X_OK):
        text = f"{job_id}: the dumps cannot be written: {nearest} is not a writable folder"
        hint = "run backupplan as a user that may write there, or choose another dumps_dir"
        return Check("locations", name, "fail", text, hint, facts)
    if os.path.realpath(folder) != os.path.join(os.path.realpath(source), job.dumps_dir) and folder.exists():
        text = f"{job_id}: {folder} leads out of the source (a symlink?)"
        hint = "make it a real folder: the transfer would not copy what is behind a symlink"
        return Check("locations", name, "fail", text, hint, facts)
    return Check("locations", name, "ok", f"{job_id}: dumps are written to {folder}", None, facts)


def database_check(job_id: str, dump: Dump, found: Reached) -> Check:
    """The database answered (and pg_dump is not older than the server), or what is wrong."""
    name = f"{job_id}.dump.{dump.name}"
    head = f"{job_id}: dump {dump.name} ({dump.engine})"
    facts: dict[str, object] = {"engine": dump.engine, "server_version": found.server_version}
    if not found.ok:
        return Check("locations", name, "fail", f"{head}: {found.message}", found.hint, facts)
    if dump.engine == "postgresql":
        _, version = dump_program(dump)
        facts["program_version"] = version
        problem = too_old(dump, version, found.server_version)
        if problem is not None:
            hint = "install the clients of the server's major version (or newer) and put them first on PATH"
            return Check("locations", name, "fail", f"{head}: {problem}", hint, facts)
    return Check("locations", name, "ok", f"{head}: {found.message}", None, facts)
