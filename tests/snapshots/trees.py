"""Small deterministic source trees for snapshot tests, after the shared bench generator
(make_tree.py): `generate`, a day of changes with `mutate`, and `digest` to compare trees."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from pathlib import Path

BASE_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z: nothing depends on "now"
DAY = 86_400
FOLDERS = ("", "docs", "docs/2024", "photos", "photos/raw", "code")


def generate(root: Path, *, files: int = 60, large: int = 0, seed: int = 7) -> Path:
    """Build a tree of `files` small text files in a few folders, plus one incompressible file of
    `large` bytes (`big.bin`) when asked; contents, names and times depend on `seed` only."""
    rng = random.Random(f"tree:{seed}")
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for number in range(files):
        relative = Path(rng.choice(FOLDERS)) / f"f{number:04d}.txt"
        _write(
            root / relative, _text(rng, relative.as_posix(), rng.randint(0, 6000)), BASE_EPOCH - number * 3600
        )
    if large:
        _write(root / "big.bin", random.Random(f"big:{seed}").randbytes(large), BASE_EPOCH)
    return root


def mutate(root: Path, day: int) -> dict[str, list[str]]:
    """Apply one day of changes: rewrite two files, append to one, delete one, add two. Return what
    changed (relative paths), so tests know which files must not be shared with yesterday."""
    rng = random.Random(f"mutate:{day}")
    existing = sorted(path.relative_to(root).as_posix() for path in root.rglob("*.txt"))
    chosen = rng.sample(existing, 4)
    changed, deleted = chosen[:3], chosen[3:]
    moment = BASE_EPOCH + day * DAY
    for index, relative in enumerate(changed):
        path = root / relative
        if index == 2:
            with open(path, "ab") as handle:
                handle.write(f"\nappended on day {day}\n".encode())
        else:
            path.write_bytes(_text(rng, f"{relative} day {day}", rng.randint(10, 4000)))
        os.utime(path, (moment + index, moment + index))
    for relative in deleted:
        (root / relative).unlink()
    added = [f"docs/new-{day:03d}-{number}.txt" for number in range(2)]
    for relative in added:
        _write(root / relative, _text(rng, relative, 500), moment)
    return {"changed": changed, "deleted": deleted, "added": added}


def digest(root: Path) -> str:
    """A SHA-256 over every path, kind, mode, size, mtime and content under `root`: two trees with
    the same digest are the same backup."""
    total = hashlib.sha256()
    for directory, folders, names in sorted(os.walk(root)):
        folders.sort()
        relative_directory = os.path.relpath(directory, root)
        for name in sorted(names):
            path = os.path.join(directory, name)
            status = os.lstat(path)
            relative = os.path.join(relative_directory, name)
            if stat.S_ISREG(status.st_mode):
                with open(path, "rb") as handle:
                    content = hashlib.sha256(handle.read()).hexdigest()
            else:
                content = os.readlink(path) if stat.S_ISLNK(status.st_mode) else "?"
            total.update(
                f"{relative} {stat.S_IFMT(status.st_mode)} {stat.S_IMODE(status.st_mode):o} "
                f"{status.st_size} {int(status.st_mtime)} {content}\n".encode()
            )
    return total.hexdigest()


def _text(rng: random.Random, header: str, size: int) -> bytes:
    words = ("backup", "plan", "snapshot", "restore", "daily", "weekly", "rsync", "link", "alpha", "beta")
    body = " ".join(rng.choice(words) for _ in range(size // 6 + 1)).encode()
    return (f"# {header}\n".encode() + body)[:size] if size else b""


def _write(path: Path, data: bytes, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)
    os.utime(path, (mtime, mtime))
