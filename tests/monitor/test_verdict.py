"""The plugin text: one safe line per text from a document, perfdata in the plugin syntax, and
hostile documents that must not break the format."""

from __future__ import annotations

import re

import pytest

from backupplan.monitor.judge import judge
from backupplan.monitor.thresholds import Space, parse_space, parse_thresholds, parse_timeout
from backupplan.monitor.verdict import Perfdatum, State, Verdict, one_line, unknown
from tests.monitor.documents import NOW, document, ended, job


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("photos", "photos"),
        ("a|b", "a¦b"),
        ("line one\nline two\r\n", "line one line two"),
        ("tab\there", "tab here"),
        ("\x1b[31mred\x1b[0m", "\ufffd[31mred\ufffd[0m"),
        ("bidi \u202eevil\u202c", "bidi \ufffdevil\ufffd"),
        ("nbsp\u00a0and\u2028line", "nbsp and line"),
        ("zero\u200bwidth", "zero\ufffdwidth"),
        ("ünïcødé 写真", "ünïcødé 写真"),
        (42, "42"),
        (None, "None"),
    ],
)
def test_one_line(value: object, text: str) -> None:
    assert one_line(value) == text


def test_one_line_cuts_long_text() -> None:
    assert one_line("x" * 500, 10) == "xxxxxxxxx…"
    assert one_line("y" * 10_000_000 + "\n", 20) == "y" * 19 + "…"


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (Perfdatum("jobs", 3, minimum=0), "'jobs'=3;;;0"),
        (Perfdatum("failed", 1, critical="0", minimum=0, maximum=3), "'failed'=1;;0;0;3"),
        (Perfdatum("age", 40.0, "s", critical="180", minimum=0), "'age'=40s;;180;0"),
        (Perfdatum("rate", 1.23456), "'rate'=1.235"),
        (Perfdatum("free", 10, "B", warning="20:", critical="10:"), "'free'=10B;20:;10:"),
    ],
)
def test_perfdata(item: Perfdatum, text: str) -> None:
    assert item.render() == text


def test_verdict_lines() -> None:
    verdict = Verdict(State.WARNING, "it is late", ("WARNING: it is late", "more"), (Perfdatum("n", 1),))
    assert verdict.lines() == ["BACKUPPLAN WARNING - it is late | 'n'=1", "WARNING: it is late", "more"]
    assert unknown("cannot read x|y\nz").lines() == ["BACKUPPLAN UNKNOWN - cannot read x¦y z"]


HOSTILE = [
    "evil|'jobs'=0 injected",
    "two\nlines",
    "\x1b]8;;http://example.org\x07link\x1b]8;;\x07",
    "<script>alert(1)</script>",
    "\u202egnp.exe",
    "x" * 5000,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_and_texts_keep_the_format(name: str) -> None:
    entry = ended(job(name), "failed", f"reason with | and\nnewline and {name}")
    doc = document(entry, host="nas|\nfake", backupplan_version="1|2\x1b")
    doc["freshness"]["kept_by"] = "daemon\n|x"
    lines = judge(doc, NOW, jobs=[name]).lines()
    assert all(line.isprintable() for line in lines)
    status, _, data = lines[0].partition(" | ")
    assert "|" not in status and "|" not in data
    assert data.startswith("'jobs'=1;;;0 'failed'=1;;0;0;1 ")
    assert all("|" not in line for line in lines[1:])
    assert max(len(line) for line in lines) < 1200


def test_a_hostile_job_asked_for_is_shown_safely() -> None:
    verdict = judge(document(), NOW, jobs=["no\nsuch|job"])
    assert verdict.lines() == ["BACKUPPLAN UNKNOWN - no job named 'no such¦job' in the status of nas"]


def test_thresholds() -> None:
    assert parse_space("10%") == Space(percent=10)
    assert parse_space(" 2.5 % ") == Space(percent=2.5)
    assert parse_space("2GiB") == Space(size=2 * 1024**3)
    assert parse_space("0") == Space(size=0)
    assert str(Space(percent=2.5)) == "2.5%"
    assert str(Space(size=2 * 1024**3)) == "2.0 GiB"
    assert Space(percent=10).bytes_of(1000) == 100
    assert Space(percent=10).bytes_of(None) is None
    parsed = parse_thresholds(late_critical="12h", space_warning="20%", space_critical="1GB", max_age="2h")
    assert (parsed.late_critical, parsed.max_age) == (43200, 7200)
    assert (parsed.space_warning, parsed.space_critical) == (Space(percent=20), Space(size=10**9))
    assert parse_timeout("500ms") == 0.5


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"late_critical": "soon"}, "--late-critical: 'soon' is not a duration"),
        ({"space_warning": "101%"}, "--space-warning: '101%' is more than 100%"),
        (
            {"space_critical": "5"},
            "--space-critical: '5' has no unit; write a share like 10% or a size like 2GiB",
        ),
        ({"max_age": "0"}, "--max-age: '0' must be more than 0"),
    ],
)
def test_bad_thresholds_name_their_flag(flags: dict[str, str], message: str) -> None:
    texts = {"late_critical": "1d", "space_warning": "10%", "space_critical": "5%", "max_age": None, **flags}
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        parse_thresholds(**texts)
    with pytest.raises(ValueError, match=r"^--timeout: '0' must be more than 0$"):
        parse_timeout("0")
