"""`snapshots:` of an rsync job: dated hard-linked copies and how many of them to keep."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from backupplan.plan.model.fields import Strict

KeepCount = Annotated[int, Field(ge=0, le=100_000)]


class Keep(Strict):
    """Retention: how many snapshots to keep per time bucket (the newest snapshot is always kept)."""

    last: KeepCount = Field(0, description="The most recent snapshots, whatever their age.", examples=[3])
    hourly: KeepCount = Field(
        0, description="The newest snapshot of each of the last N hours that have one.", examples=[24]
    )
    daily: KeepCount = Field(
        0, description="The newest snapshot of each of the last N days that have one.", examples=[7]
    )
    weekly: KeepCount = Field(
        0, description="The newest snapshot of each of the last N ISO weeks that have one.", examples=[4]
    )
    monthly: KeepCount = Field(
        0, description="The newest snapshot of each of the last N months that have one.", examples=[12]
    )
    yearly: KeepCount = Field(
        0, description="The newest snapshot of each of the last N years that have one.", examples=[5]
    )


class Snapshots(Strict):
    """Dated, hard-linked snapshots in the destination (rsync only)."""

    keep: Keep | None = Field(
        None,
        description="Retention after each completed snapshot; leave it out to keep every snapshot.",
        examples=[{"last": 3, "daily": 7, "weekly": 4}],
    )
