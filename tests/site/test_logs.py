"""read_recent_log_lines and the log line parser: newest lines across jobs, any bytes survive."""

from __future__ import annotations

import os
from pathlib import Path

from backupplan.site.logs import LONGEST_LINE, LogLine, lines_backwards, parse_line, read_recent_log_lines
from tests.log_files import write_log


def test_the_last_lines_across_jobs_come_oldest_first(tmp_path: Path) -> None:
    write_log(tmp_path, "photos", "20261127T020000Z-a", [b"2026-11-27T02:00:00Z [rsync] old photos"])
    write_log(
        tmp_path,
        "photos",
        "20261128T020000Z-b",
        [b"2026-11-28T02:00:00Z [rsync] p1", b"2026-11-28T02:00:05Z [backupplan] p2"],
    )
    write_log(
        tmp_path,
        "mail",
        "20261128T020001Z-c",
        [b"2026-11-28T02:00:01Z [hook] m1", b"2026-11-28T02:00:09Z [rclone] m2"],
    )
    assert read_recent_log_lines(tmp_path, limit=4) == [
        LogLine("photos", "20261128T020000Z-b", "2026-11-28T02:00:00Z", "rsync", "p1"),
        LogLine("mail", "20261128T020001Z-c", "2026-11-28T02:00:01Z", "hook", "m1"),
        LogLine("photos", "20261128T020000Z-b", "2026-11-28T02:00:05Z", "backupplan", "p2"),
        LogLine("mail", "20261128T020001Z-c", "2026-11-28T02:00:09Z", "rclone", "m2"),
    ]
    assert read_recent_log_lines(tmp_path, limit=10)[0].text == "old photos"


def test_a_missing_folder_or_zero_limit_gives_no_lines(tmp_path: Path) -> None:
    assert read_recent_log_lines(tmp_path / "nowhere") == []
    write_log(tmp_path, "photos", "20261128T020000Z-b", [b"2026-11-28T02:00:00Z [rsync] p1"])
    assert read_recent_log_lines(tmp_path, limit=0) == []


def test_invalid_utf8_and_lines_without_a_record_are_kept(tmp_path: Path) -> None:
    write_log(tmp_path, "x", "20261128T020000Z-b", [b"2026-11-28T02:00:00Z [rsync] caf\xe9 \xff", b"plain\r"])
    lines = read_recent_log_lines(tmp_path)
    assert lines[0].text == "caf\\xe9 \\xff"
    assert lines[1] == LogLine("x", "20261128T020000Z-b", "2026-11-28T02:00:00Z", "", "plain")


def test_files_are_read_from_the_end_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"".join(b"line %06d\n" % number for number in range(100_000)))
    backwards = lines_backwards(path)
    assert [next(backwards) for _ in range(3)] == [b"line 099999", b"line 099998", b"line 099997"]


def test_a_runaway_line_is_cut_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_bytes(b"first\n" + b"x" * (LONGEST_LINE + 10) + b"\nlast\n")
    lines = list(lines_backwards(path))
    assert lines[0] == b"last"
    assert lines[1].startswith(b"[line cut: longer than 1 MiB] xxx") and len(lines[1]) < 2000
    assert lines[2:] == [b"first"]


def test_parse_line_clips_very_long_text() -> None:
    line = parse_line("j", "r", b"2026-11-28T02:00:00Z [rsync] " + b"y" * 5000, "")
    assert line.text.endswith("… [4,000 more characters]")


def test_newest_files_are_found_by_name_or_by_time(tmp_path: Path) -> None:
    old = write_log(tmp_path, "j", "zzz-not-a-timestamp", [b"2026-11-27T00:00:00Z [rsync] older"])
    write_log(tmp_path, "j", "aaa-not-a-timestamp", [b"2026-11-28T00:00:00Z [rsync] newer"])
    os.utime(old, (1, 1))
    assert [line.text for line in read_recent_log_lines(tmp_path, limit=1)] == ["newer"]
