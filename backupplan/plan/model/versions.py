"""`versions:` of an rclone job: what each run replaces or deletes, kept in a dated folder per run."""

from __future__ import annotations

from pydantic import Field

from backupplan.plan.model.fields import Strict
from backupplan.plan.model.snapshots import Keep


class Versions(Strict):
    """History for an rclone job: each run moves the files it overwrites or deletes into a folder of
    its own, named after the run's start (UTC), beside the copy (rclone only). See docs/remote.md."""

    keep: Keep | None = Field(
        None,
        description="Retention of the version folders after each successful run, with the buckets "
        "of snapshots.keep (the newest folder is always kept); leave it out to keep every folder.",
        examples=[{"daily": 7, "weekly": 4, "monthly": 12}],
    )
    path: str | None = Field(
        None,
        min_length=1,
        description="Where the version folders go, on the destination's remote and outside the "
        "copy. Defaults to the destination with `.versions` appended (`s3:bucket/photos` keeps "
        "them in `s3:bucket/photos.versions`); required when the destination is a bucket or the "
        "top of a remote.",
        examples=["s3:bucket/photos.versions"],
    )
