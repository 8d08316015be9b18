"""Journal records: one JSON object per line, with a checksum over the line's own bytes.

A line looks like this (one line in the file, wrapped here):

    {"v":1,"seq":42,"ts":"2026-11-28T02:00:41.123Z","type":"run.finished","job":"photos",
     "run":"20261128T020000Z-3f9a","data":{...},"crc":"1a2b3c4d"}

`crc` is the CRC-32 of every byte of the line before `,"crc":` (so it is checked without
re-encoding anything), written as 8 lower-case hex digits. The keys always come in this order and
`crc` is always last, which keeps the check a fixed-size slice.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from backupplan.secrets import mask

FORMAT_VERSION = 1
CHECKPOINT = "journal.checkpoint"
_CRC_PREFIX = b',"crc":"'
# `,"crc":"` + 8 hex digits + `"}`
CRC_SUFFIX_LENGTH = len(_CRC_PREFIX) + 8 + 2

# Record types the fold understands (others are kept and ignored: forward-compatible within format 1).
PLAN_APPLIED = "plan.applied"
RUN_STARTED = "run.started"
RUN_ATTEMPT = "run.attempt"
RUN_CHILD = "run.child"
RUN_FINISHED = "run.finished"
RUN_INTERRUPTED = "run.interrupted"
RUN_SKIPPED = "run.skipped"
SLOT_MISSED = "slot.missed"
JOB_PAUSED = "job.paused"
JOB_RESUMED = "job.resumed"
JOB_REMOVED = "job.removed"
CONTROL_PAUSE = "control.pause"
CONTROL_RESUME = "control.resume"
RECOVERY_HANDLED = "recovery.handled"
VERIFY_FINISHED = "verify.finished"
JOB_NOTE = "job.note"
JOB_OVERDUE = "job.overdue"
JOB_ON_TIME = "job.on_time"
# Written by the scheduler; the fold ignores them (they describe the daemon and rejected edits).
PLAN_REJECTED = "plan.rejected"
DAEMON_STARTED = "daemon.started"
DAEMON_STOPPED = "daemon.stopped"
TORN_TAIL = "journal.torn_tail"
DAMAGED = "journal.damaged"
REPAIRED = "journal.repaired"


@dataclass(frozen=True, slots=True)
class Record:
    """One journal record as the rest of the code sees it."""

    seq: int
    ts: str
    type: str
    job: str | None = None
    run: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    @property
    def time(self) -> datetime:
        """The record's timestamp as an aware UTC datetime."""
        return parse_timestamp(self.ts)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Record:
        """Given a decoded line, return the Record (missing optional keys become None / {})."""
        data = raw.get("data")
        return cls(
            seq=raw["seq"],
            ts=raw["ts"],
            type=raw["type"],
            job=raw.get("job"),
            run=raw.get("run"),
            data=data if isinstance(data, dict) else {},
            version=raw.get("v", FORMAT_VERSION),
        )


def format_timestamp(moment: datetime) -> str:
    """Given an aware datetime, return it in UTC as `2026-11-28T02:00:41.123Z` (milliseconds)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def rfc3339(ts: str) -> str:
    """Given a record timestamp (`2026-11-28T02:00:41.123Z`), return it to the second (`…:41Z`)."""
    if len(ts) >= 20 and ts[19] in ".Z":
        return ts[:19] + "Z"
    return format_timestamp(parse_timestamp(ts))[:19] + "Z"


def parse_timestamp(text: str) -> datetime:
    """Given a record timestamp (`…Z`), return an aware UTC datetime; raise ValueError otherwise."""
    return datetime.fromisoformat(text).astimezone(UTC)


def new_run_id(now: datetime | None = None) -> str:
    """Return a fresh run id like `20261128T020000Z-3f9a`: sortable by time, unique enough per job."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def mask_data(value: Any) -> Any:
    """Given record data, return a copy with every string passed through `secrets.mask`."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {str(key): mask_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(item) for item in value]
    return value


def raw_record(
    *,
    seq: int,
    ts: str,
    type: str,
    job: str | None = None,
    run: str | None = None,
    data: Mapping[str, Any] | None = None,
    version: int = FORMAT_VERSION,
) -> dict[str, Any]:
    """Return a record as the dict that is written (and that the fold reads), keys in line order."""
    return {"v": version, "seq": seq, "ts": ts, "type": type, "job": job, "run": run, "data": data or {}}


def encode_line(raw: Mapping[str, Any]) -> bytes:
    """Given a record from `raw_record`, return its journal line with checksum and final newline.

    Raise ValueError when the record holds something JSON cannot represent.
    """
    try:
        body = orjson.dumps(raw)
    except TypeError as error:
        raise ValueError(f"record {raw.get('type')} is not JSON: {error}") from None
    head = body[:-1]  # drop the closing brace; the checksum goes in front of it
    return head + b'%s%08x"}\n' % (_CRC_PREFIX, zlib.crc32(head))


def decode_line(line: bytes) -> dict[str, Any] | None:
    """Given one line without its newline, return the decoded record, or None when the line is
    damaged (checksum mismatch, not JSON, or not a record)."""
    # The hot path of replay: slices and one crc32 call, then one orjson call.
    if line[-CRC_SUFFIX_LENGTH:-10] != _CRC_PREFIX or line[-2:] != b'"}':
        return None
    if b"%08x" % zlib.crc32(line[:-CRC_SUFFIX_LENGTH]) != line[-10:-2]:
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if record.__class__ is not dict or record.get("seq").__class__ is not int or "type" not in record:
        return None
    record.setdefault("v", None)
    return record
