"""A run's log and changes list as written line by line: what lands in the files, whichever way
the writer took (one line as it came, or split and cut; lines gathered before they go to gzip)."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backupplan.runner import changelist, logfile
from backupplan.runner.changelist import ChangeList
from backupplan.runner.logfile import MAX_LINE, RunLog
from backupplan.secrets import registry

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \[(\w+)\] (.*)$")


def _logged(path: Path) -> list[tuple[str, str]]:
    """(tag, text) of every line of a run log, each line's time checked against the clock."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for line in lines:
        match = LINE.match(line)
        assert match is not None, line
        written = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - written).total_seconds()) < 60
        found.append((match[2], match[3]))
    return found


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (b"sending incremental file list", ["sending incremental file list"]),
        (b"", [""]),
        (b"two\nlines", ["two", "lines"]),
        (b"ends with a return\r", ["ends with a return"]),
        (b"a\r\nb\r", ["a", "b"]),
        (b"caf\xc3\xa9 \xff\xfe", ["café \\xff\\xfe"]),
        (b"x" * (MAX_LINE + 5), ["x" * MAX_LINE + "… (5 more characters)"]),
        (b"x" * MAX_LINE, ["x" * MAX_LINE]),
    ],
    ids=["one line", "empty", "two lines", "trailing CR", "CRLF", "not UTF-8", "too long", "at the limit"],
)
def test_a_record_is_logged_as_its_lines(tmp_path: Path, record: bytes, expected: list[str]) -> None:
    log = RunLog(tmp_path / "logs" / "job" / "run.log")
    log.output("rsync", record)
    log.close()
    assert _logged(log.path) == [("rsync", text) for text in expected]


def test_secrets_are_masked_on_either_way(tmp_path: Path) -> None:
    registry.add("hunter2-canary-value", "DB_PASSWORD")
    try:
        log = RunLog(tmp_path / "logs" / "job" / "run.log")
        log.output("rsync", b"password hunter2-canary-value")
        log.line("backupplan", "first\nhunter2-canary-value again")
        log.output("rsync", b"https://user:url-secret@example.org/x")
        log.close()
    finally:
        registry.clear()
    assert _logged(log.path) == [
        ("rsync", "password ${DB_PASSWORD}"),
        ("backupplan", "first"),
        ("backupplan", "${DB_PASSWORD} again"),
        ("rsync", "https://user:***@example.org/x"),
    ]


def test_the_time_of_a_line_follows_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each second is formatted once, and a new second is seen at once."""
    moments = iter([1_800_000_000.2, 1_800_000_000.9, 1_800_000_001.0, 1_800_000_000.5])
    monkeypatch.setattr(logfile.time, "time", lambda: next(moments))
    assert [logfile.stamp() for _ in range(4)] == [
        "2027-01-15T08:00:00Z",
        "2027-01-15T08:00:00Z",
        "2027-01-15T08:00:01Z",
        "2027-01-15T08:00:00Z",
    ]
    assert logfile.stamp(datetime(2026, 12, 6, 23, 59, 58, tzinfo=UTC)) == "2026-12-06T23:59:58Z"


def test_a_long_changes_list_keeps_every_line_in_order(tmp_path: Path) -> None:
    listing = ChangeList(tmp_path / "run.changes.gz")
    names = [f"folder {index // 100}/file-{index:06d}.jpg" for index in range(5_000)]
    assert sum(len(name) for name in names) > 3 * changelist.PENDING_BYTES
    for index, name in enumerate(names):
        listing.add("+~-"[index % 3], name)  # type: ignore[arg-type]
    listing.close()
    with gzip.open(listing.path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert lines == [f"{'+~-'[index % 3]} {name}" for index, name in enumerate(names)]
    assert (listing.lines, listing.error) == (5_000, None)


def test_a_changes_list_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    listing = ChangeList(tmp_path / "missing folder" / "run.changes.gz")
    listing.add("+", "a")
    listing.close()
    assert listing.error is not None and "could not be written" in listing.error
