"""Folders of the site: readable by the web server whatever the umask of the process writing them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def ensure_public_dir(path: Path) -> None:
    """Create `path` and any missing parents as 0755 (a daemon's umask is often 077, which would
    hide the site from the web server); folders that already exist are left as their owner set them."""
    if path.is_dir():
        return
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        os.chmod(folder, 0o755)  # noqa: S103 - the site is meant to be served
