"""`preserve:` of a job: what a copy keeps besides contents, modes, times and links (which it always
keeps). Everything is on by default, so that a restore brings back exactly what was there; turn a
property off for a destination that cannot keep it (a FAT or exFAT USB disk, a NAS share without
ACLs). See docs/fidelity.md."""

from __future__ import annotations

from pydantic import Field

from backupplan.plan.model.fields import Strict

PROPERTIES = ("hard_links", "acls", "xattrs", "sparse", "metadata")


class Preserve(Strict):
    """What a copy keeps beyond contents, modes, times, symlinks (and, as root, owners, devices and
    special files)."""

    hard_links: bool = Field(
        True,
        description="Files hard-linked together at the source stay one file at the destination "
        "(rsync -H; costs memory for very many linked files).",
        examples=[True],
    )
    acls: bool = Field(True, description="POSIX ACLs (rsync -A).", examples=[True])
    xattrs: bool = Field(
        True,
        description="Extended attributes (rsync -X; as root also trusted.* and security.*, "
        "such as SELinux labels and file capabilities).",
        examples=[True],
    )
    sparse: bool = Field(
        True,
        description="Sparse files (disk images, databases) stay sparse instead of filling "
        "their holes with zeros (rsync -S).",
        examples=[True],
    )
    metadata: bool = Field(
        True,
        description="rclone jobs: copy the metadata the backend can store (rclone --metadata: "
        "modes, owners, times, and xattrs where the backend keeps them).",
        examples=[True],
    )

    def kept(self) -> tuple[str, ...]:
        """The properties kept, in PROPERTIES order."""
        return tuple(name for name in PROPERTIES if getattr(self, name))
