"""The durable side of the outbox: every notification is written to `STATE_DIR/outbox/<id>.json`
(0600, fsynced) before it is sent and removed once it was sent or finally failed. A process that
dies in between (kill -9, power cut) or exits first leaves the file, and the next backupplan that
sends notifications for this state dir delivers it: at least once, and with its message id in the
text, so a receiver can drop the rare repeat.

While a process has a message in flight it holds an flock on its file, so another process
replaying the spool never takes a message that is still being sent; the kernel drops the flock
when the holder dies, however it dies. No secret is written: the file names its target by the
SHA-256 of the URL, which is looked up in the plan again when the message is replayed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from backupplan.fsutil import ensure_private_dir, fsync_dir

EXPIRES_AFTER = timedelta(days=7)  # a message older than this is given up (and reported)


def url_digest(url: str) -> str:
    """The name a spooled message gives its target: a digest, never the URL (it holds secrets)."""
    return hashlib.sha256(url.strip().encode()).hexdigest()


def new_message_id(now: datetime) -> str:
    """A sortable, unique id like `20261128T020041Z-3f9a1c`."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass
class Claim:
    """A spooled message this process holds (its file, flocked through `fd`)."""

    path: Path
    fd: int
    entry: dict[str, Any]


class Spool:
    """The outbox folder of one state dir. Every method reports trouble by raising OSError, which
    callers turn into "not durable" (the message is still sent from memory)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, entry: dict[str, Any]) -> Claim:
        """Write `entry` (with an `id`) durably and hold it; return the claim."""
        ensure_private_dir(self.folder)
        path = self.folder / f"{entry['id']}.json"
        temporary = self.folder / f".{entry['id']}.tmp"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held before the file has its name: nobody can replay it
            data = orjson.dumps(entry)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.replace(temporary, path)
            fsync_dir(self.folder)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return Claim(path, fd, entry)

    def release(self, claim: Claim, *, done: bool) -> None:
        """Let the claim go: remove the message when `done` (sent, or finally failed and reported),
        else keep it for the next start."""
        try:
            if done:
                with contextlib.suppress(FileNotFoundError):
                    claim.path.unlink()
                with contextlib.suppress(OSError):
                    fsync_dir(self.folder)
        finally:
            os.close(claim.fd)

    def orphans(self) -> Iterator[Claim]:
        """Claim and yield, oldest first, the messages no live process holds (their sender died or
        exited before sending them). A file that cannot be read is removed."""
        try:
            names = sorted(path.name for path in self.folder.iterdir() if path.suffix == ".json")
        except FileNotFoundError:
            return
        for name in names:
            claim = self._claim(self.folder / name)
            if claim is not None:
                yield claim

    def _claim(self, path: Path) -> Claim | None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # sent and removed meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None  # a live process is sending it
        if not path.exists():  # sent and removed between the listing and the lock
            os.close(fd)
            return None
        try:
            entry = orjson.loads(os.pread(fd, 1 << 20, 0))
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise ValueError("not a spooled message")
        except (OSError, ValueError):
            claim = Claim(path, fd, {})
            self.release(claim, done=True)
            return None
        return Claim(path, fd, entry)


def expired(entry: dict[str, Any], now: datetime) -> bool:
    """True when the message was queued more than EXPIRES_AFTER ago (or when is unknown)."""
    try:
        queued = datetime.fromisoformat(str(entry["queued_at"]))
    except (KeyError, ValueError):
        return True
    return now - queued > EXPIRES_AFTER
