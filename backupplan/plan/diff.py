"""What changed between the last applied plan and the current one, field by field.

Both sides are `LoadedPlan.normalized()` documents (plain JSON, secrets already masked), so a diff
never shows a secret and never depends on formatting or comments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    """One changed value: `path` is dotted below the job or settings (`retries.attempts`)."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class PlanDiff:
    added: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, list[FieldChange]] = field(default_factory=dict)
    settings: list[FieldChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.settings)


def diff_plans(old: dict[str, Any] | None, new: dict[str, Any]) -> PlanDiff:
    """Given the applied normalized plan (None before the first apply) and the current one, return
    what differs."""
    old_jobs: dict[str, dict[str, Any]] = (old or {}).get("jobs", {})
    new_jobs: dict[str, dict[str, Any]] = new.get("jobs", {})
    added = {job: new_jobs[job] for job in sorted(new_jobs.keys() - old_jobs.keys())}
    removed = {job: old_jobs[job] for job in sorted(old_jobs.keys() - new_jobs.keys())}
    changed = {}
    for job in sorted(new_jobs.keys() & old_jobs.keys()):
        changes = compare(old_jobs[job], new_jobs[job])
        if changes:
            changed[job] = changes
    settings = compare((old or {}).get("settings", {}), new.get("settings", {})) if old is not None else []
    return PlanDiff(added=added, removed=removed, changed=changed, settings=settings)


def compare(old: Any, new: Any, prefix: str = "") -> list[FieldChange]:
    """Return the changes between two JSON values; mappings are compared key by key."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in sorted(old.keys() | new.keys()):
            path = f"{prefix}.{key}" if prefix else str(key)
            changes += compare(old.get(key), new.get(key), path)
        return changes
    if old == new:
        return []
    return [FieldChange(prefix, old, new)]


def show(value: Any) -> str:
    """A compact, stable rendering of a JSON value for diff lines."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return (
            value
            if value and value.strip() == value and not value.startswith(("[", "{"))
            else json.dumps(value)
        )
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


SUMMARY_FIELDS = ("engine", "source", "destination", "schedule")


def render_diff(diff: PlanDiff) -> list[str]:
    """Return the `backupplan plan` lines for `diff` (terraform style: + added, ~ changed, - removed)."""
    lines: list[str] = []
    for job, config in diff.added.items():
        lines.append(f"  + {job}  (new {config.get('engine', '?')} job)")
        lines += [
            f"        {name}: {show(config.get(name))}"
            for name in SUMMARY_FIELDS
            if config.get(name) is not None
        ]
    for job, changes in diff.changed.items():
        lines.append(f"  ~ {job}")
        lines += [f"        {change.path}: {show(change.old)} → {show(change.new)}" for change in changes]
    for job in diff.removed:
        lines.append(f"  - {job}  (removed: its history is kept and its destination is left untouched)")
    if diff.settings:
        lines.append("  ~ settings")
        lines += [
            f"        {change.path}: {show(change.old)} → {show(change.new)}" for change in diff.settings
        ]
    return lines


def summary(diff: PlanDiff) -> str:
    """`Plan: 1 to add, 2 to change, 0 to remove.` (settings count as one change)."""
    changes = len(diff.changed) + (1 if diff.settings else 0)
    return f"Plan: {len(diff.added)} to add, {changes} to change, {len(diff.removed)} to remove."
