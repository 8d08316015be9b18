"""backupplan.logs.view: the last lines across jobs, with a filter, a time floor and byte ends."""

from __future__ import annotations

from pathlib import Path

from backupplan.logs.view import LogLine, all_log_files, parse_line, read_recent_log_lines, run_of
from tests.log_files import write_log


def two_jobs(logs: Path) -> None:
    write_log(logs, "photos", "20261127T020000Z-a", [b"2026-11-27T02:00:00Z [rsync] old photos"])
    write_log(
        logs,
        "photos",
        "20261128T020000Z-b",
        [b"2026-11-28T02:00:00Z [rsync] p1 ERROR", b"2026-11-28T02:00:05Z [backupplan] p2"],
    )
    write_log(
        logs,
        "mail",
        "20261128T020001Z-c",
        [b"2026-11-28T02:00:01Z [hook] m1 error", b"2026-11-28T02:00:09Z [rclone] m2"],
    )


def test_the_text_is_kept_whole_unless_shortened() -> None:
    raw = b"2026-11-28T02:00:00Z [rsync] " + b"y" * 5000
    assert parse_line("j", "r", raw, "").text == "y" * 5000
    assert parse_line("j", "r", raw, "", lambda text: text[:3]).text == "yyy"


def test_keep_filters_before_the_limit(tmp_path: Path) -> None:
    two_jobs(tmp_path)
    found = read_recent_log_lines(tmp_path, 1, keep=lambda line: "error" in line.text.lower())
    assert found == [LogLine("mail", "20261128T020001Z-c", "2026-11-28T02:00:01Z", "hook", "m1 error")]
    both = read_recent_log_lines(tmp_path, 10, keep=lambda line: "error" in line.text.lower())
    assert [line.text for line in both] == ["p1 ERROR", "m1 error"]


def test_since_stops_at_the_first_older_line(tmp_path: Path) -> None:
    two_jobs(tmp_path)
    found = read_recent_log_lines(tmp_path, None, since="2026-11-28T02:00:01Z")
    assert [line.text for line in found] == ["m1 error", "p2", "m2"]
    assert read_recent_log_lines(tmp_path, None, since="2026-11-28T02:00:10Z") == []


def test_no_limit_reads_everything_oldest_first(tmp_path: Path) -> None:
    two_jobs(tmp_path)
    assert [line.text for line in read_recent_log_lines(tmp_path, None)] == [
        "old photos", "p1 ERROR", "m1 error", "p2", "m2",
    ]  # fmt: skip


def test_ends_stop_reading_a_file_at_an_offset(tmp_path: Path) -> None:
    path = write_log(
        tmp_path, "photos", "20261128T020000Z-b",
        [b"2026-11-28T02:00:00Z [rsync] first", b"2026-11-28T02:00:05Z [rsync] second"],
    )  # fmt: skip
    first_end = len(b"2026-11-28T02:00:00Z [rsync] first\n")
    found = read_recent_log_lines(tmp_path, None, ends={str(path): first_end})
    assert [line.text for line in found] == ["first"]


def test_files_narrow_the_read_and_list_by_job(tmp_path: Path) -> None:
    two_jobs(tmp_path)
    files = all_log_files(tmp_path)
    assert sorted(files) == ["mail", "photos"]
    assert [run_of(path) for path in files["photos"]] == ["20261128T020000Z-b", "20261127T020000Z-a"]
    only = read_recent_log_lines(tmp_path, None, files={"photos": files["photos"][1:]})
    assert [line.text for line in only] == ["old photos"]
    assert all_log_files(tmp_path / "missing") == {}


def test_runs_started_in_the_same_second_are_ordered_by_last_write(tmp_path: Path) -> None:
    import os

    from backupplan.logs.view import job_log_files

    first = write_log(tmp_path, "j", "20261128T020000Z-ffff", [b"2026-11-28T02:00:00Z [rsync] first"])
    second = write_log(tmp_path, "j", "20261128T020000Z-0000", [b"2026-11-28T02:00:00Z [rsync] second"])
    older = write_log(tmp_path, "j", "20261127T020000Z-aaaa", [b"2026-11-27T02:00:00Z [rsync] older"])
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    os.utime(second, ns=(2_000_000_000, 2_000_000_000))
    os.utime(older, ns=(3_000_000_000, 3_000_000_000))  # a later write, but an earlier second
    assert [run_of(path) for path in job_log_files(tmp_path / "j")] == [
        "20261128T020000Z-0000", "20261128T020000Z-ffff", "20261127T020000Z-aaaa",
    ]  # fmt: skip


def _aged_log(logs: Path, job: str, run: str, times: list[str]) -> Path:
    """A log whose modification time is its last line's, as the runner leaves it."""
    import calendar
    import os
    import time

    path = write_log(logs, job, run, [f"{moment} [rsync] {job} {moment}".encode() for moment in times])
    last = calendar.timegm(time.strptime(times[-1], "%Y-%m-%dT%H:%M:%SZ"))
    os.utime(path, (last, last))
    return path


def test_the_merge_equals_sorting_every_line(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    everything: list[tuple[str, str]] = []
    for number in range(40):
        job = f"job-{number:02d}"
        for run in range(rng.randint(0, 3)):
            day = 20 + run
            times = sorted(
                f"2026-11-{day}T0{rng.randint(0, 3)}:00:{rng.randint(0, 5):02d}Z" for _ in range(5)
            )
            _aged_log(tmp_path, job, f"202611{day}T000000Z-{number:02d}", times)
            everything += [(moment, job) for moment in times]
    newest_first = sorted(everything, key=lambda item: item[0], reverse=True)
    for limit in (1, 7, 60, None):
        lines = read_recent_log_lines(tmp_path, limit)
        expected = newest_first[:limit] if limit else newest_first
        assert [line.time for line in reversed(lines)] == [moment for moment, _ in expected]
        assert sorted((line.time, line.job) for line in lines) == sorted(expected)


def test_quiet_jobs_are_not_opened(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from backupplan.logs import view as logview

    for number in range(30):
        _aged_log(tmp_path, f"quiet-{number:02d}", "20261101T020000Z-q", ["2026-11-01T02:00:00Z"])
    _aged_log(tmp_path, "busy", "20261128T020000Z-b", ["2026-11-28T02:00:00Z", "2026-11-28T02:00:01Z"])
    opened: list[str] = []
    real = logview.lines_backwards

    def recording(path: Path, end: int | None = None):  # type: ignore[no-untyped-def]
        opened.append(path.parent.name)
        return real(path, end)

    monkeypatch.setattr(logview, "lines_backwards", recording)
    lines = read_recent_log_lines(tmp_path, 2)
    assert [line.job for line in lines] == ["busy", "busy"]
    assert opened == ["busy"]
    assert len(read_recent_log_lines(tmp_path, 3)) == 3
    assert len(set(opened)) == 31  # a third line needed every job that could hold it
