"""Reading what rsync prints: progress records, the --stats block, error lines, itemized changes
(`--out-format=%i %n`: counted into Changes, and kept in the run's log like rsync's own file
names), and a verification dry run's differences."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from backupplan.engines.base import (
    MAX_MESSAGES,
    Difference,
    DifferenceKind,
    Progress,
    Stream,
    TransferStats,
    decode,
    one_line,
)
from backupplan.engines.changes import ChangeKind, Changes

_PROGRESS_START = frozenset({b" ", *(bytes([digit]) for digit in b"0123456789")})
_PROGRESS = re.compile(
    rb"^\s*(?P<bytes>[\d,.]+)\s+(?P<percent>\d+)%\s+(?P<rate>[\d.,]+)(?P<unit>[kMGTP]?B)/s"
    rb"\s+(?P<eta>[\d:?]+)(?:\s+\(xfr#(?P<xfr>\d+),\s+(?:ir|to)-chk=(?P<left>\d+)/(?P<total>\d+)\))?\s*$"
)
_RATE_UNITS = {b"B": 1, b"kB": 1024, b"MB": 1024**2, b"GB": 1024**3, b"TB": 1024**4, b"PB": 1024**5}
_STATS = {
    "files": re.compile(r"^Number of files: ([\d,.]+)(?: \(reg: ([\d,.]+))?"),
    "transferred": re.compile(r"^Number of regular files transferred: ([\d,.]+)"),
    "deleted": re.compile(r"^Number of deleted files: ([\d,.]+)"),
    "size": re.compile(r"^Total file size: ([\d,.]+) bytes"),
    "transferred_size": re.compile(r"^Total transferred file size: ([\d,.]+) bytes"),
}
_VANISHED = re.compile(r'^file has vanished: "(.*)"$')
_ITEM = re.compile(rb"^(?P<code>[<>ch.][fdLDS][ .+?a-zA-Z]{9}|\*deleting  ) (?P<name>.+)$")
_ITEM_START = frozenset({b"<", b">", b"c", b"h", b".", b"*"})
_ESCAPE = re.compile(rb"\\#([0-7]{3})")


def _number(text: str | bytes) -> int:
    # rsync separates thousands with ',' (or '.' where the decimal point is a comma).
    if isinstance(text, bytes):
        return int(text.replace(b",", b"").replace(b".", b""))
    return int(text.replace(",", "").replace(".", ""))


def _eta(text: bytes) -> float | None:
    parts = text.split(b":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None  # rsync prints ??:??:?? when it cannot tell
    hours, minutes, secs = (int(part) for part in parts)
    return float(hours * 3600 + minutes * 60 + secs)


def unescape(name: bytes) -> bytes:
    """Given a file name as rsync prints it, return its bytes (rsync writes unprintable bytes,
    newlines included, as \\#ooo)."""
    return _ESCAPE.sub(lambda match: bytes([int(match[1], 8)]), name)


_UNSUPPORTED = {  # by `preserve:` key
    "acls": re.compile(r"(set_acl|ACLs? (are )?not supported|ACL_TYPE)", re.IGNORECASE),
    "xattrs": re.compile(r"(xattr|xal_set|extended attributes (are )?not supported)", re.IGNORECASE),
}


def unsupported_properties(errors: Sequence[str]) -> list[str]:
    """Given rsync's error lines, return the `preserve:` keys of the properties the other side
    said it cannot keep (`Operation not supported`, or an rsync built without them)."""
    found = []
    for key, pattern in _UNSUPPORTED.items():
        if any(pattern.search(line) and "not supported" in line.lower() for line in errors):
            found.append(key)
    return found


def change_of(code: bytes, name: bytes) -> ChangeKind | None:
    """Given an itemized line's code (`>f.st......`, `*deleting  `) and name, return the change it
    counts as, or None (a folder, a metadata-only update, an unchanged hard link)."""
    if code[:1] == b"*":
        return None if name.endswith(b"/") else "-"
    if code[1:2] == b"d":
        return None
    if code[2:] == b"+++++++++":
        return "+"
    if code[:1] in (b"<", b">") or (code[:1] == b"c" and code[1:2] == b"L"):
        return "~"
    return None


class RsyncParser:
    """Progress from `--info=progress2` records (stdout), totals from `--stats`, errors (stderr),
    and, with `changes`, the itemized lines of `--out-format=%i %n` counted there (and logged, as
    rsync's file names always were).

    rsync prints a progress record for every file. Only one record per `interval` seconds is
    parsed; the others are kept aside, so the cost stays flat however small the files are."""

    def __init__(self, *, interval: float = 0.25, changes: Changes | None = None) -> None:
        self.last_was_progress = False
        self._changes = changes
        self._interval = interval
        self._parsed_at = float("-inf")
        self._pending: bytes | None = None
        self._latest: Progress | None = None
        self._numbers: dict[str, int] = {}
        self._errors: list[str] = []
        self._error_count = 0
        self._warnings: list[str] = []
        self._vanished: list[str] = []

    def feed(self, record: bytes, stream: Stream = "stdout") -> Progress | None:
        """Given one record, return a new progress sample, or None."""
        if stream == "stdout" and record[:1] in _PROGRESS_START and b"%" in record:
            self.last_was_progress = True
            now = time.monotonic()
            if now - self._parsed_at < self._interval:
                self._pending = record
                return None
            self._parsed_at = now
            self._pending = None
            return self._parse_progress(record)
        self.last_was_progress = False
        if stream == "stdout" and self._changes is not None and record[:1] in _ITEM_START:
            match = _ITEM.match(record)
            if match is not None:  # counted, and logged too: `logs --follow` shows each file as it goes
                kind = change_of(match["code"], match["name"])
                if kind is not None:
                    self._changes.count(kind, match["name"].decode("utf-8", "backslashreplace"))
                return None
        text = decode(record).strip()
        if not text:
            return None
        if stream == "stdout":
            self._read_stats(text)
        else:
            self._read_error(text)
        return None

    def _parse_progress(self, record: bytes) -> Progress | None:
        match = _PROGRESS.match(record)
        if match is None:
            return None
        rate = float(match["rate"].replace(b",", b".")) * _RATE_UNITS.get(match["unit"], 1)
        self._latest = Progress(
            bytes_done=_number(match["bytes"]),
            percent=float(match["percent"]),
            rate=rate,
            eta=_eta(match["eta"]),
            files_done=int(match["xfr"]) if match["xfr"] else None,
            total_files=int(match["total"]) if match["total"] else None,
        )
        return self._latest

    def _read_stats(self, text: str) -> None:
        for key, pattern in _STATS.items():
            match = pattern.match(text)
            if match:
                self._numbers[key] = _number(match[1])
                if key == "files" and match[2]:
                    self._numbers["regular_files"] = _number(match[2])
                return

    def _read_error(self, text: str) -> None:
        if match := _VANISHED.match(text):
            if len(self._vanished) < MAX_MESSAGES:
                self._vanished.append(match[1])
        elif text.startswith("rsync warning:") or "--link-dest arg does not exist" in text:
            if len(self._warnings) < MAX_MESSAGES:
                self._warnings.append(one_line(text))
        else:
            if not text.startswith("rsync error:"):  # the summary line repeats the exit code
                self._error_count += 1
            if len(self._errors) < MAX_MESSAGES:
                self._errors.append(one_line(text))

    def progress(self) -> Progress | None:
        """Return the latest progress sample, parsing one held back by throttling."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._parse_progress(pending)
        return self._latest

    def stats(self) -> TransferStats:
        """Return the totals from rsync's --stats block and the error lines seen."""
        numbers = self._numbers
        return TransferStats(
            bytes_transferred=numbers.get("transferred_size", 0),
            files_transferred=numbers.get("transferred", 0),
            total_bytes=numbers.get("size"),
            total_files=numbers.get("regular_files", numbers.get("files")),
            checks=None,
            deletes=numbers.get("deleted", 0),
            errors=self._error_count,
            error_messages=tuple(self._errors),
            warnings=tuple(self._warnings),
            vanished=tuple(self._vanished),
        )


class RsyncVerifyParser:
    """Differences from a `--dry-run --itemize-changes` run (stdout) and its errors (stderr)."""

    def __init__(self) -> None:
        self._differences: list[Difference] = []
        self._errors: list[str] = []
        self._warnings: list[str] = []

    def feed(self, record: bytes, stream: Stream = "stdout") -> None:
        if stream == "stderr":
            text = one_line(decode(record))
            if text:
                target = self._warnings if text.startswith("rsync warning:") else self._errors
                target.append(text)
            return
        match = _ITEM.match(record)
        if match is None:
            return
        code = match["code"].decode("ascii")
        name = unescape(match["name"]).decode("utf-8", errors="surrogateescape")
        self._differences.append(Difference(_difference_kind(code), name))

    def differences(self) -> list[Difference]:
        return list(self._differences)

    def errors(self) -> list[str]:
        return list(self._errors)

    def warnings(self) -> list[str]:
        return list(self._warnings)


def _difference_kind(code: str) -> DifferenceKind:
    if code.startswith("*deleting"):
        return "extra"
    if set(code[2:]) == {"+"}:
        return "missing"
    if code[0] in "<>h" or code[2] == "c" or code[3] == "s":
        return "changed"  # rsync would copy data: content, size or (quick mode) time differs
    return "metadata"
