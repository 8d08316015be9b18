"""Neutralising text for display, file-safe names, time formats."""

from __future__ import annotations

from datetime import UTC, datetime

from backupplan.site.text import clip, format_relative, format_time, job_name, neutralise, rfc3339, run_name


def test_terminal_escapes_are_removed_and_controls_shown() -> None:
    assert neutralise("\x1b[31mred\x1b[0m \x1b]8;;http://x/\x07link\x1b]8;;\x07") == "red link"
    assert neutralise("a\x00b\x07c\x7fd\ttab") == "a\\x00b\\x07c\\x7fd\ttab"
    assert neutralise("line\nbreak\r") == "line\\x0abreak\\x0d"
    assert neutralise("line\nbreak", multiline=True) == "line\nbreak"
    assert neutralise("\u202eevil \udcff") == "\\u202eevil \\udcff"
    assert neutralise("plain ascii") == "plain ascii"
    assert neutralise("Grüße 日本") == "Grüße 日本"


def test_clip_says_how_much_was_left_out() -> None:
    assert clip("abcdef", 10) == "abcdef"
    assert clip("abcdef", 2) == "ab… [4 more characters]"


def test_plain_ids_keep_their_name_others_get_a_slug_and_hash() -> None:
    assert job_name("photos") == "photos"
    assert run_name("20261128T020000Z-3f9a") == "20261128T020000Z-3f9a"
    hostile = job_name("<script>alert(1)</script>")
    assert hostile.startswith("script-alert-1-script-") and len(hostile) == len("script-alert-1-script-") + 10
    assert job_name("..") != ".." and job_name("a/b") != job_name("a-b")
    assert job_name("Photos") != job_name("photos")


def test_times_are_shown_in_utc() -> None:
    assert format_time("2026-11-28T02:00:03Z") == "2026-11-28 02:00 UTC"
    assert format_time("2026-11-28T03:00:03+01:00") == "2026-11-28 02:00 UTC"
    assert format_time(None) == "—"
    assert format_time("not a time") == "not a time"
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert format_relative("2026-11-28T11:57:00Z", now) == "3 min ago"
    assert format_relative("2026-11-29T02:00:00Z", now) == "in 14 h"
    assert format_relative("2026-12-01T12:00:00Z", now) == "in 3 days"


def test_times_for_the_pages_time_elements_are_rfc3339_utc() -> None:
    assert rfc3339("2026-11-28T02:00:03Z") == "2026-11-28T02:00:03Z"
    assert rfc3339("2026-11-28T03:00:03.250+01:00") == "2026-11-28T02:00:03Z"
    assert rfc3339(datetime(2026, 11, 28, 12, tzinfo=UTC)) == "2026-11-28T12:00:00Z"
    assert rfc3339("2026-11-28 02:00 UTC") is None and rfc3339(None) is None and rfc3339(7) is None
