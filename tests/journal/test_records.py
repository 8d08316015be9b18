"""Journal lines: exact bytes, checksum over the line itself, masking, timestamps."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from backupplan.journal.records import (
    Record,
    decode_line,
    encode_line,
    format_timestamp,
    mask_data,
    new_run_id,
    raw_record,
    rfc3339,
)
from backupplan.secrets import registry


def test_a_line_is_the_record_then_its_checksum() -> None:
    raw = raw_record(
        seq=7, ts="2026-11-28T02:00:41.123Z", type="run.finished", job="photos", run="r1", data={"bytes": 5}
    )
    line = encode_line(raw)
    head = (
        b'{"v":1,"seq":7,"ts":"2026-11-28T02:00:41.123Z","type":"run.finished",'
        b'"job":"photos","run":"r1","data":{"bytes":5}'
    )
    assert line == head + b',"crc":"%08x"}\n' % zlib.crc32(head)
    assert decode_line(line[:-1]) == {**raw, "crc": f"{zlib.crc32(head):08x}"}


def test_any_changed_byte_makes_the_line_unreadable() -> None:
    line = encode_line(raw_record(seq=1, ts="2026-11-28T02:00:41.123Z", type="job.paused", job="photos"))[:-1]
    for index in range(len(line)):
        damaged = bytearray(line)
        damaged[index] ^= 0x01
        assert decode_line(bytes(damaged)) is None, index


def test_lines_that_are_not_records_are_refused() -> None:
    assert decode_line(b"") is None
    assert decode_line(b"\x00" * 40) is None
    head = b'["not", "a", "record"'
    assert decode_line(head + b',"crc":"%08x"}' % zlib.crc32(head)) is None


def test_record_from_a_decoded_line() -> None:
    raw = raw_record(seq=3, ts="2026-11-28T02:00:41.123Z", type="job.resumed", job="photos")
    record = Record.from_dict(raw)
    assert record == Record(3, "2026-11-28T02:00:41.123Z", "job.resumed", "photos", None, {}, 1)
    assert record.time == datetime(2026, 11, 28, 2, 0, 41, 123000, tzinfo=UTC)


def test_mask_data_hides_secrets_at_any_depth() -> None:
    registry.add("hunter2-secret", "NAS_PASSWORD")
    data = {"argv": ["rsync", "--password=hunter2-secret"], "url": "https://u:pw@host/x", "n": 3}
    assert mask_data(data) == {
        "argv": ["rsync", "--password=${NAS_PASSWORD}"],
        "url": "https://u:***@host/x",
        "n": 3,
    }


def test_timestamps() -> None:
    moment = datetime(2026, 11, 28, 3, 0, 41, 123999, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-11-28T03:00:41.123Z"
    assert rfc3339("2026-11-28T03:00:41.123Z") == "2026-11-28T03:00:41Z"
    assert new_run_id(moment).startswith("20261128T030041Z-")
    assert len(new_run_id(moment)) == len("20261128T030041Z-3f9a")
