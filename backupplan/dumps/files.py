"""The dumps folder inside the source, and how a dump becomes the good one: written under a
temporary name, checked, then renamed over the previous dump only when it is complete.

- The folder is `<source>/<dumps_dir>`, made (or made again) 0700: nobody else may enter it while
  a dump is written there. A folder that resolves anywhere else (a symlink on the way) is refused,
  because the transfer would not copy what is behind it.
- A dump is written to `.<file>.tmp` in that folder, a file the program creates (a leftover from a
  run that was killed is removed first). It is not created beforehand: opening an existing file
  with O_TRUNC makes ext4 write the whole file out when the program closes it (its
  `auto_da_alloc` heuristic), which costs a 500 MB dump about 15 %. The finished dump is made 0600.
- A finished dump is checked (its completion line, for plain SQL) and renamed over the previous
  one. It is not flushed to disk (fsync): the folder is a staging area, and what must survive a
  crash is the copy at the destination. A run transfers the dumps only after every one of them was
  written again and checked in that same run, so a dump that a power cut left half on disk is
  never transferred: the next run writes it again (and a failed dump skips the transfer). Flushing
  would make a 500 MB dump wait for the disk (pg_dump does not flush a plain dump either).
- A dump identical to the previous one leaves the previous file as it is (same time, same inode):
  the transfer skips it, snapshots link it. PostgreSQL's plain dumps differ in their `\\restrict`
  lines alone (a random key per dump, which psql checks when it loads the file): those lines are
  not compared.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
from pathlib import Path

from backupplan.dumps.clients import DumpError

TAIL = 64 * 1024  # the completion line is in the last few hundred bytes; 64 KiB leaves room
CHUNK = 1 << 20


def dumps_folder(source: Path, dumps_dir: str) -> Path:
    """Given a local source folder and the job's dumps_dir, return the dumps folder, made (0700)
    when missing; raise DumpError when it cannot be made or lies outside the source."""
    if not source.is_dir():
        raise DumpError(f"the source {source} is not a folder: dumps are written into a folder")
    folder = source / dumps_dir
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_mode & 0o077:
            folder.chmod(0o700)
    except OSError as error:
        raise DumpError(
            f"cannot make the dumps folder {folder}: {error.strerror or error}",
        ) from None
    expected = os.path.join(os.path.realpath(source), dumps_dir)
    if os.path.realpath(folder) != os.path.normpath(expected) or not folder.is_dir():
        raise DumpError(
            f"the dumps folder {folder} leads out of the source (a symlink?): the transfer would not "
            "copy the dumps; make it a real folder or choose another dumps_dir"
        )
    return folder


def temporary(final: Path) -> Path:
    """Given a dump's file, return the name it is written under until it is complete."""
    return final.with_name(f".{final.name}.tmp")


def start(temp: Path) -> None:
    """Given a temporary name, remove what a killed run left there (the program creates it anew)."""
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()


def discard(temp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()


def ends_with(path: Path, marker: bytes) -> bool:
    """Given a written dump and its program's completion line, return whether that line is among
    the last lines of the file (PostgreSQL 15.14 and later write a `\\unrestrict` line after it)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL))
        tail = handle.read()
    return b"\n" + marker in tail or tail.startswith(marker)


def same_content(first: Path, second: Path, ignore: re.Pattern[bytes] | None = None) -> bool:
    """Given two files, return whether their bytes are the same, lines that both match `ignore`
    aside (PostgreSQL's `\\restrict KEY` lines: a new random key in every dump). Sizes first: they
    usually settle it; then one pass over both, at the speed of reading them."""
    try:
        size = first.stat().st_size
        if size != second.stat().st_size:
            return False
        if size == 0:
            return True
        with (
            open(first, "rb") as one,
            open(second, "rb") as other,
            mmap.mmap(one.fileno(), 0, access=mmap.ACCESS_READ) as left,
            mmap.mmap(other.fileno(), 0, access=mmap.ACCESS_READ) as right,
        ):
            return _same(left, right, size, ignore)
    except (OSError, ValueError):
        return False


def _same(left: mmap.mmap, right: mmap.mmap, size: int, ignore: re.Pattern[bytes] | None) -> bool:
    position = 0
    while position < size:
        end = min(position + CHUNK, size)
        if left[position:end] == right[position:end]:
            position = end
            continue
        if ignore is None:
            return False
        low, high = position, end  # the first byte that differs, by halves
        while high - low > 1:
            middle = (low + high) // 2
            if left[low:middle] == right[low:middle]:
                low = middle
            else:
                high = middle
        start, stop = _line_around(left, low, size)
        if _line_around(right, low, size) != (start, stop):
            return False
        if not (ignore.match(left[start:stop]) and ignore.match(right[start:stop])):
            return False
        position = stop
    return True


def _line_around(data: mmap.mmap, offset: int, size: int) -> tuple[int, int]:
    """Given a byte's offset, return where its line starts and ends (before the newline)."""
    stop = data.find(b"\n", offset)
    return data.rfind(b"\n", 0, offset) + 1, size if stop < 0 else stop


def settle(temp: Path, final: Path, ignore: re.Pattern[bytes] | None = None) -> bool:
    """Given a complete dump under its temporary name, make it the dump: renamed over the previous
    one, or dropped when it is the same as the previous one (`ignore`: see same_content). Return
    True when the file was replaced."""
    if final.exists() and same_content(temp, final, ignore):
        temp.unlink()
        return False
    os.chmod(temp, 0o600)
    _later_than(temp, final)
    os.replace(temp, final)
    return True


def _later_than(temp: Path, final: Path) -> None:
    """rsync's quick check compares sizes and whole seconds: a new dump of the same size as the
    previous one, written within the same second, would not be copied. Such a dump's time is moved
    to the next second."""
    try:
        previous, new = final.stat(), temp.stat()
    except FileNotFoundError:
        return
    if previous.st_size == new.st_size and int(previous.st_mtime) >= int(new.st_mtime):
        later = (int(previous.st_mtime) + 1) * 1_000_000_000
        os.utime(temp, ns=(new.st_atime_ns, later))
