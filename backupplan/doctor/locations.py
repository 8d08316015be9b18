"""Each enabled job's source and destination. Local folders are looked at (exists, readable,
writable, free space); remote ones get a quick probe (backupplan.doctor.probes), all at once, the
whole lot bounded by the probe timeout.

Doctor changes nothing at a source or a destination (writability is asked with access(2), see
backupplan.doctor.files), with one exception: to learn what a local rsync destination can keep
(hard links, ACLs, extended attributes, sparse files), a scratch folder `.backupplan-probe-*` is
made there and removed at once (backupplan.runner.fidelity).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupplan.doctor.files import (
    can,
    kind_of,
    low_space,
    nearest_existing,
    space_facts,
    space_text,
    why_not_writable,
)
from backupplan.doctor.model import Check, Context
from backupplan.doctor.probes import Once, _check, remote_probe, run_probes
from backupplan.plan.locations import Location, parse_location

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan

UNREADABLE_HINT = "run backupplan as a user that may read it, or change its owner or mode"


def location_checks(loaded: LoadedPlan, context: Context) -> list[Check]:
    """Given the plan, return for each enabled job a check of its source and one of its
    destination, in plan order."""
    slots: list[Check | str] = []
    probes = {}
    once = Once()
    for job_id, job in sorted(loaded.jobs.items()):
        if not job.enabled:
            continue
        for role in ("source", "destination"):
            name = f"{job_id}.{role}"
            location = parse_location(getattr(job, role), job.engine, loaded.base_dir)
            if location.kind != "local":
                probes[name] = remote_probe(name, role, location, job, loaded, context.probe_timeout, once)
                slots.append(name)
            elif role == "source":
                slots.append(local_source(name, location))
            else:
                slots.append(checked := local_destination(name, location, context))
                if job.engine == "rsync" and checked.status != "fail":
                    slots.append(
                        fidelity_check(f"{job_id}.fidelity", Path(location.path), job.preserve.kept())
                    )
    results = run_probes(probes, context.probe_timeout)
    return [slot if isinstance(slot, Check) else results[slot] for slot in slots]


def local_source(name: str, location: Location) -> Check:
    """A local source must exist and be readable; an empty folder is suspect (an unmounted disk
    looks like one)."""
    path = Path(location.path)
    facts: dict[str, Any] = {"kind": "local", "path": str(path)}
    kind = kind_of(path)
    if kind == "missing":
        hint = "is its disk mounted? otherwise fix the path in the plan"
        return _check(name, "fail", f"{path} does not exist", hint, facts)
    if kind == "unreachable" or not can(path, os.R_OK | (os.X_OK if kind == "folder" else 0)):
        return _check(name, "fail", f"{path} cannot be read by this user", UNREADABLE_HINT, facts)
    if kind == "file":
        return _check(name, "ok", f"{path} is a readable file", None, facts)
    try:
        with os.scandir(path) as entries:
            facts["empty"] = next(entries, None) is None
    except OSError as error:
        return _check(name, "fail", f"{path} cannot be listed: {error.strerror}", UNREADABLE_HINT, facts)
    if facts["empty"]:
        hint = "is its disk mounted? a run copies nothing (with `delete: true` it empties the destination)"
        return _check(name, "warn", f"{path} is an empty folder", hint, facts)
    return _check(name, "ok", f"{path} is readable", None, facts)


def local_destination(name: str, location: Location, context: Context) -> Check:
    """A local destination must be a writable folder, or be creatable in an existing writable
    folder (backupplan does not create missing parents: that would fill the system disk under an
    unmounted mount point). Free space is shown; low space is a warning."""
    path = Path(location.path)
    kind = kind_of(path)
    facts: dict[str, Any] = {"kind": "local", "path": str(path), "exists": kind != "missing"}
    if kind == "file":
        return _check(
            name, "fail", f"{path} is a file, not a folder", "point the destination at a folder", facts
        )
    folder = path if kind != "missing" else path.parent
    folder_kind = kind_of(folder)
    if folder_kind == "missing":
        text = f"{path} cannot be created: {folder} does not exist (only {nearest_existing(folder)} does)"
        return _check(name, "fail", text, f"is its disk mounted? otherwise create {folder}", facts)
    if folder_kind == "file":
        return _check(name, "fail", f"{path} cannot be created: {folder} is a file", "fix the path", facts)
    if folder_kind == "unreachable":
        text = f"{folder} cannot be reached by this user"
        return _check(name, "fail", text, "run backupplan as a user that may write there", facts)
    if not can(folder, os.W_OK | os.X_OK):
        why, hint = why_not_writable(folder)
        return _check(name, "fail", f"{folder} is not writable: {why}", hint, facts)
    try:
        space = context.space(folder)
    except OSError as error:
        return _check(name, "warn", f"{path}: free space unknown ({error.strerror})", None, facts)
    facts.update(space_facts(space))
    where = f"{path} is writable" if kind != "missing" else f"{path} does not exist yet; {folder} is writable"
    if low_space(space):
        hint = "free some space or use a bigger disk: a full destination fails the run"
        return _check(name, "warn", f"{where}, but only {space_text(space)}", hint, facts)
    return _check(name, "ok", f"{where}; {space_text(space)}", None, facts)


def fidelity_check(name: str, destination: Path, kept: tuple[str, ...]) -> Check:
    """What the destination's file system can keep of what the job preserves (docs/fidelity.md)."""
    from backupplan.engines.base import PRESERVED_WORDS as WORDS
    from backupplan.runner.fidelity import lost_text, nearest_folder, probe

    folder = nearest_folder(destination)
    try:
        found = probe(folder)
    except OSError as error:
        return _check(name, "info", f"{folder}: what it can keep is unknown ({error.strerror or error})")
    facts = {key: getattr(found, key) for key in WORDS}
    lost = found.lost(kept)
    if lost:
        hint = "a FAT or exFAT disk keeps none of these; a NAS share may lack ACLs"
        return _check(name, "warn", lost_text(lost, str(folder)), hint, facts)
    shown = ", ".join(WORDS[key] for key in kept if key in WORDS) or "contents, modes and times"
    return _check(name, "ok", f"{folder} keeps what the job preserves: {shown}", None, facts)
