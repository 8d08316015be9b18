"""Folder trees for transfer tests: build one from a mapping, and describe one for comparison."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# File names that break naive tools: spaces, a newline, bytes that are not UTF-8, leading dashes
# that look like options, shell metacharacters.
AWKWARD_NAMES: dict[bytes, bytes] = {
    b"plain.txt": b"plain\n",
    b"with space.txt": b"space\n",
    b"new\nline.txt": b"newline\n",
    b"bad\xffbyte.bin": b"\x00\x01\x02",
    b"-rf": b"dash\n",
    b"--delete": b"double dash\n",
    b"sub dir/-e nested.txt": b"nested\n",
    b"sub dir/$(touch pwned) `x`;|&.txt": b"shell\n",
    b"empty": b"",
}


def build(root: Path, files: dict[bytes, bytes], mtime: int = 1_700_000_000) -> Path:
    """Create `root` with `files` (relative byte paths → contents), all with a fixed mtime."""
    root_bytes = os.fsencode(root)
    os.makedirs(root_bytes, exist_ok=True)
    for relative, content in files.items():
        path = os.path.join(root_bytes, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content)
        os.utime(path, (mtime, mtime))
    return root


def describe(root: Path, *, ignore: tuple[bytes, ...] = ()) -> dict[bytes, tuple[str, int, str, int]]:
    """Return every file under `root` as relative path → (kind, mode, sha256, mtime)."""
    root_bytes = os.fsencode(root)
    found: dict[bytes, tuple[str, int, str, int]] = {}
    for directory, folders, names in os.walk(root_bytes):
        folders[:] = [folder for folder in folders if folder not in ignore]
        for name in names:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root_bytes)
            status = os.lstat(path)
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            found[relative] = ("file", status.st_mode & 0o7777, digest, int(status.st_mtime))
    return found


def big_file(path: Path, size: int) -> Path:
    """Write `size` random (incompressible) bytes to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path
