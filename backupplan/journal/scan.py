"""Scan journal bytes: check every line's checksum and sequence number, hand good records on.

The rule follows LevelDB and RocksDB: the tail may be torn, the middle may not.

- A bad line (checksum mismatch, not JSON) followed later by a good one is **damage**: it is
  skipped, never dropped silently, and reported with its place.
- Bad lines with no good line after them are a **tail**: a write cut off by a crash or power cut.
  Whoever holds the journal lock cuts it off (nobody else can be writing); a reader without the
  lock leaves it alone, because it may be a write still in progress.
- A sequence gap (a deleted line) or a repeat (a duplicated line) among good lines is damage too;
  a repeated record is skipped so it is never folded twice.
- A record of a newer format version is kept, counted and not folded (never misread).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backupplan.journal.records import CHECKPOINT, FORMAT_VERSION, decode_line


@dataclass(frozen=True)
class Damage:
    """One damaged stretch of the journal, with a stable fingerprint so it is reported once."""

    kind: str  # checksum, gap, repeat, checkpoint, format
    offset: int
    line: int
    message: str
    fingerprint: str


@dataclass
class Scanner:
    """Scans a journal from `offset` on; `expected` is the sequence number the next record must have."""

    offset: int
    line: int
    expected: int
    on_record: Callable[[dict[str, Any]], None]
    end: int = -1  # the offset just after the last good line
    end_line: int = 0
    damage: list[Damage] = field(default_factory=list)
    newer: list[dict[str, Any]] = field(default_factory=list)
    scanned: int = 0  # good lines seen (folded, repeated or newer)
    _pending: list[tuple[int, int, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.end = self.offset
        self.end_line = self.line

    def feed(self, buffer: bytes) -> bytes:
        """Scan the complete lines of `buffer` (which starts at `self.offset`); return the bytes
        after its last newline, which the caller puts in front of the next buffer."""
        lines = buffer.split(b"\n")
        rest = lines.pop()
        position = self.offset
        number = self.line
        expected = self.expected
        end, end_line, scanned = self.end, self.end_line, self.scanned
        pending = self._pending
        on_record = self.on_record
        decode = decode_line
        for line in lines:
            number += 1
            record = decode(line)
            if record is None:
                pending.append((position, number, line))
                position += len(line) + 1
                continue
            seq = record["seq"]
            explained = False
            if pending:
                explained = True  # a gap right after damaged lines is reported with them
                self._pending_is_damage(seq, expected)
            if seq == expected and record["v"] == FORMAT_VERSION and record["type"] != CHECKPOINT:
                on_record(record)
                expected = seq + 1
            else:
                expected = self._unusual(record, position, number, expected, explained)
            position += len(line) + 1
            end = position
            end_line = number
            scanned += 1
        self.offset = position
        self.line = number
        self.expected = expected
        self.end, self.end_line, self.scanned = end, end_line, scanned
        return rest

    def _pending_is_damage(self, seq: int, expected: int) -> None:
        """Bad lines followed by a good one: damage in the middle of the journal."""
        first_offset, first_line, _ = self._pending[0]
        last_offset, last_line, last = self._pending[-1]
        length = last_offset + len(last) - first_offset
        checksum = 0
        for _, _, line in self._pending:
            checksum = zlib.crc32(line, checksum)
        where = f"line {first_line}" if first_line == last_line else f"lines {first_line}-{last_line}"
        lost = f" (records {expected}-{seq - 1} are lost)" if seq > expected else ""
        self.damage.append(
            Damage(
                "checksum",
                first_offset,
                first_line,
                f"{where} (byte {first_offset}, {length} bytes) damaged: checksum mismatch{lost}",
                f"checksum:{first_offset}:{length}:{checksum:08x}",
            )
        )
        self._pending.clear()

    def _unusual(
        self, record: dict[str, Any], position: int, number: int, expected: int, explained: bool
    ) -> int:
        """Handle a good line that is not simply the next record; return the next expected seq."""
        seq: int = record["seq"]
        version = record.get("v")
        if seq < expected:
            self.damage.append(
                Damage(
                    "repeat",
                    position,
                    number,
                    f"line {number} (byte {position}) repeats record {seq}; the copy is ignored",
                    f"repeat:{position}:{seq}",
                )
            )
            return expected
        if seq > expected and not explained:
            self.damage.append(
                Damage(
                    "gap",
                    position,
                    number,
                    f"records {expected}-{seq - 1} are missing before line {number} (byte {position})",
                    f"gap:{expected}:{seq}",
                )
            )
        if isinstance(version, int) and version > FORMAT_VERSION:
            self.newer.append(record)
        elif version != FORMAT_VERSION:
            self.damage.append(
                Damage(
                    "format",
                    position,
                    number,
                    f"line {number} (byte {position}) has an unknown format version {version!r}",
                    f"format:{position}:{seq}",
                )
            )
        elif record["type"] == CHECKPOINT:
            self.damage.append(
                Damage(
                    "checkpoint",
                    position,
                    number,
                    f"line {number} (byte {position}) is a checkpoint in the middle of the journal",
                    f"checkpoint:{position}:{seq}",
                )
            )
        else:
            self.on_record(record)
        return seq + 1

    def tail(self, size: int) -> int:
        """Given the file size, return how many bytes after the last good line are not records."""
        return size - self.end
