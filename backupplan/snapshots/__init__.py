"""Dated, hard-linked snapshots of rsync jobs: layout, making one, retention, usage.
See docs/snapshots.md."""

from __future__ import annotations

from backupplan.snapshots.layout import (
    LATEST,
    Listing,
    SnapshotError,
    next_id,
    parse_id,
    read_listing,
    snapshot_id,
)
from backupplan.snapshots.links import link_problem
from backupplan.snapshots.prune import PrunePlan, PruneResult, empty_trash, plan_prune, prune
from backupplan.snapshots.stage import (
    Created,
    Staging,
    discard,
    prepare,
    promote,
    snapshot_spec,
)
from backupplan.snapshots.usage import Measurement, Usage, measure

__all__ = [
    "LATEST",
    "Created",
    "Listing",
    "Measurement",
    "PrunePlan",
    "PruneResult",
    "SnapshotError",
    "Staging",
    "Usage",
    "discard",
    "empty_trash",
    "link_problem",
    "measure",
    "next_id",
    "parse_id",
    "plan_prune",
    "prepare",
    "promote",
    "prune",
    "read_listing",
    "snapshot_id",
    "snapshot_spec",
]
