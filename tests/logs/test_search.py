"""backupplan.logs.search: `logs --grep` searched in bytes keeps exactly the lines it kept before.

Every comparison reads the same log files twice, the way `logs --grep` reads them (`search`, the
bytes path) and line by line (`skip` and `keep` alone, the path it replaces), and asserts that both
give the same lines, with the same times, in the same order.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from backupplan.commands.logs import compile_grep, display_text, matcher, quick_skip
from backupplan.logs import search as logsearch
from backupplan.logs.search import blocks_backwards, byte_search
from backupplan.logs.view import (
    LONGEST_LINE,
    LogLine,
    _older,
    all_log_files,
    lines_backwards,
    parse_line,
    read_recent_log_lines,
)
from backupplan.secrets import registry
from tests.log_files import write_log

SECRET = "hunter2-secret"
# A secret that begins in the shown prefix of run …-aaaa and ends at the start of its lines.
SPANNING_SECRET = "aaaa | 2026-11-27T02:00:0"
# A secret shown masked in `[rsync]tag-secret`, which is shown `[rsync] tag-secret`.
TAG_SECRET = "] tag-secret"
LONG = LONGEST_LINE + 10

# What programs print, after `2026-11-28T02:00:00Z [tag] `: plain lines, and every way a line can
# be shown otherwise than it is written.
TEXTS = [
    b"Checksum MISMATCH on inode 4242",
    b"checksum mismatch on inode",
    b"IMG_0001.JPG sent 1,234 bytes",
    b"rsync error: EXIT 23 (code 23)",
    b"exit 24 here",
    b"ok",
    b"mismatch\tchecksum with a tab",
    b"\x1b[31mcheck\x1b[0msum mismatch on inode",  # shown without the escapes: it matches
    b"checksum mismatch\x07on inode with a bell",
    b"url https://user:pa55word@example.com/x?token=abcdef checksum",
    b"GET /x?password=abc123 checksum",  # shown `password=***`
    b"ftp://bob:s3cret@nas.local/backup checksum",  # shown `bob:***@`
    b"the secret hunter2-secret in clear, checksum mismatch on inode",
    b"caf\xe9 \xff\xfe invalid UTF-8, checksum",
    "café ſ İ: chec\u212asum mismatch on inode (a Kelvin sign)".encode(),
    b"CRLF checksum mismatch on inode\r",
    b"middle\rcarriage return",
    "\u202ereversed checksum".encode(),
    b"x=1 y=2 mismatch",
    b"mail@example.com mismatch",
    b"sent 2 files  ok",
    b"size mismatch only, 1234 files",
]


def records(day: int, start: int, texts: list[bytes], tag: bytes = b"rsync") -> list[bytes]:
    """One record per text, two seconds apart from 02:00:00 + `start` seconds of 2026-11-`day`."""
    lines = []
    for offset, text in enumerate(texts):
        seconds = start + 2 * offset
        stamp = f"2026-11-{day:02d}T02:{seconds // 60:02d}:{seconds % 60:02d}Z".encode()
        lines.append(stamp + b" [" + tag + b"] " + text)
    return lines


def hostile_run(day: int, start: int) -> list[bytes]:
    """A run's lines holding everything odd a record can hold, and one odd line in the middle that
    `--since` takes for a record older than any cutoff (it stops reading the job there)."""
    lines = records(day, start, TEXTS)
    lines += [
        f"2026-11-{day:02d}T02:10:00Z [rsync]checksum mismatch on inode, no space".encode(),
        f"2026-11-{day:02d}T02:10:01Z [rsync]".encode(),  # no text at all
        f"2026-11-{day:02d}T02:10:01Z [rsync]tag-secret after the tag".encode(),
        f"2026-11-{day:02d}T02:10:02.250Z [rsync] fractional checksum".encode(),
        b"                   Z [odd] older than any cutoff",
    ]
    return lines + records(day, 620, TEXTS[:7], b"backupplan")


def continued_run(day: int, start: int) -> list[bytes]:
    """A run's lines with lines that are not records between them: each continues the one before."""
    lines = records(day, start, TEXTS[:4])
    lines += [
        b"continued checksum mismatch on inode",
        b"continued output",
        b"",
        b"\r",
        f"2026-11-{day:02d}T02:10:04Z [bad tag!] not a record either, checksum".encode(),
    ]
    lines += records(day, start + 30, [b"after the continuation lines", *TEXTS[:3]], b"hook")
    return [*lines, b"continued at the end, checksum"]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Log files of several jobs whose runs interleave in time, written as the runner writes them."""
    logs = tmp_path / "logs"
    write_log(logs, "photos", "20261126T020000Z-0000", continued_run(26, 0))
    write_log(logs, "photos", "20261127T020000Z-aaaa", hostile_run(27, 0))
    write_log(logs, "photos", "20261128T020000Z-bbbb", records(28, 1, TEXTS[:7] * 3))  # plain only
    write_log(logs, "mail", "20261128T020003Z-cccc", hostile_run(28, 3))
    write_log(logs, "mail", "20261128T030000Z-gggg", continued_run(28, 3600))
    write_log(
        logs, "checksum", "20261128T020001Z-dddd", records(28, 5, TEXTS[:4])
    )  # a job named like a needle
    # Names not shown as they are written: every line of theirs is read line by line.
    write_log(logs, "café", "20261128T020002Z-eeee", records(28, 7, TEXTS[:4]))
    write_log(logs, "bidi\u202ename", "20261128T020002Z-eeee", records(28, 7, TEXTS[:4]))
    write_log(logs, "q?token=abc", "20261128T020002Z-eeee", records(28, 7, TEXTS[:4]))
    # Only `=` makes one of these lines shown otherwise than written (masked).
    write_log(
        logs,
        "tokens",
        "20261128T020006Z-hhhh",
        records(28, 8, [TEXTS[0], b"GET /x?password=abc123 checksum", TEXTS[1]]),
    )
    # A clock set back: the newer run holds a line older than any cutoff, which ends the job's lines
    # for --since, before the older run's lines (which are newer) are read.
    write_log(logs, "skew", "20261128T020000Z-new0", records(1, 0, TEXTS[:2]) + records(28, 40, TEXTS[:3]))
    write_log(logs, "skew", "20261127T020000Z-old0", records(28, 50, TEXTS[:3]))
    registry.add(SECRET, "NAS_PASSWORD")
    registry.add(SPANNING_SECRET, "ODD_SECRET")
    registry.add(TAG_SECRET, "TAG_SECRET")
    return logs


@pytest.fixture
def long_logs(logs: Path) -> Path:
    """The same, and a job whose log holds lines longer than LONGEST_LINE (they are shown cut)."""
    write_log(
        logs,
        "long",
        "20261128T020004Z-ffff",
        [
            *records(28, 9, [b"ok"]),
            b"2026-11-28T02:00:11Z [rsync] checksum mismatch on inode " + b"y" * LONG + b" tail checksum",
            *records(28, 13, [b"checksum mismatch on inode at the start " + b"z" * LONG]),
            *records(28, 15, [b"checksum after the long lines"]),
        ],
    )
    return logs


EXPRESSIONS = [
    "checksum mismatch on inode", "CHECKSUM", "img_0", r"exit 2[34]", r"^photos .*checksum", r"^mail ",
    r"inode$", r"on inode\r", r"\] checksum", r" checksum", r"rsync\] $", r"\\x1b", r"\\xe9", r"\\x07on",
    r"\$\{NAS_PASSWORD\}", r"\$\{ODD_SECRET\}", r"\$\{TAG_SECRET\}", r"\*\*\*", "hunter2", "pa55word", "token=", r"aaaa \| 2026",
    r"bbbb \| 2026-11-28T02:00:0[5-9]", "z-aaaa", "fractional", "continued", "line cut", "tail checksum",
    r"caf\xe9", "café", r"\u212a", "chec\u212asum", r"check\w+ mismatch", r"(?-i:CHECKSUM)",
    r"(?x) check sum \s mis", r"mismatch|error", r"\d+", ".", "^$", r"Z \[", "photos", "ok$", r"\tchecksum",
    r"not a record", r"\[bad tag!\]", r"odd\] older", r"\\u202ereversed", r"\\x0dcarriage", "mail@",
    r"password=\*\*\*", r"bob:\*\*\*@", r"u202ename", r"token=\*\*\*", r"after the continuation",
    r"(?:checksum )?mismatch", r"sent (?:\d,)?\d+ bytes", r"ok$|exit 2\d", r"(?:ok|xyz)?continued", r"(?:on|in)ode",
    r"check(?:sum)+ mis", r"(?>check)sum{1,2} MIS", r"inode|\d{4} files", r"inode|[0-9]{4}",
]  # fmt: skip
BYTES_PATH = [expression for expression in EXPRESSIONS if byte_search(compile_grep(expression)) is not None]


def both_ways(logs: Path, expression: str, **options: object) -> tuple[list[LogLine], list[LogLine]]:
    """The lines kept searching in bytes, and line by line as before."""
    pattern = compile_grep(expression)
    keep, skip = matcher(pattern), quick_skip(pattern)
    searched = read_recent_log_lines(logs, keep=keep, skip=skip, search=byte_search(pattern), **options)  # type: ignore[arg-type]
    line_by_line = read_recent_log_lines(logs, keep=keep, skip=skip, **options)  # type: ignore[arg-type]
    return searched, line_by_line


def test_most_expressions_take_the_bytes_path() -> None:
    assert len(BYTES_PATH) >= len(EXPRESSIONS) - 10
    for text_only in ["café", r"\u212a", "chec\u212asum", r"\d+", ".", "^$"]:
        assert text_only not in BYTES_PATH


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_same_lines_as_line_by_line(long_logs: Path, expression: str) -> None:
    logs = long_logs
    searched, line_by_line = both_ways(logs, expression, limit=None)
    assert searched == line_by_line
    # The plain truth: every line parsed, shown and matched, nothing skipped; the same lines in
    # the same order, and the same lines as matching everything read (which merges in another
    # order where a clock was set back).
    pattern = compile_grep(expression)
    assert pattern is not None
    assert read_recent_log_lines(logs, None, keep=matcher(pattern)) == searched
    everything = read_recent_log_lines(logs, None)
    assert Counter(line for line in everything if pattern.search(display_text(line))) == Counter(searched)


def test_the_corpus_has_matches_to_compare(long_logs: Path) -> None:
    found = {expression: len(both_ways(long_logs, expression, limit=None)[0]) for expression in BYTES_PATH}
    assert sum(1 for count in found.values() if count) >= len(BYTES_PATH) - 5, found
    assert found["checksum mismatch on inode"] >= 8  # ANSI, Kelvin sign, CRLF, continuation, no space
    assert found[r"\$\{NAS_PASSWORD\}"] >= 2 and found["hunter2"] == 0
    assert found[r"\$\{ODD_SECRET\}"] >= 1 and found["tail checksum"] == 1


@pytest.mark.parametrize("since", ["2026-11-27T02:00:30Z", "2026-11-28T02:00:05Z", "2026-11-28T02:10:03Z"])
def test_the_same_lines_with_since_and_limits(logs: Path, since: str) -> None:
    for expression in BYTES_PATH:
        for limit in [1, 3, 500]:
            searched, line_by_line = both_ways(logs, expression, limit=limit, since=since)
            assert searched == line_by_line, (expression, limit)


def test_the_same_lines_of_one_job_one_run_and_the_last_run(long_logs: Path) -> None:
    logs = long_logs
    files = all_log_files(logs)
    selections = [
        {"photos": files["photos"]},
        {"photos": files["photos"][1:]},
        {"mail": files["mail"]},
        {"long": files["long"]},
    ]
    for selected in selections:
        for expression in BYTES_PATH:
            searched, line_by_line = both_ways(logs, expression, limit=None, files=selected)
            assert searched == line_by_line, (expression, list(selected))


def test_the_same_lines_up_to_a_followers_ends(logs: Path) -> None:
    for job in ["photos", "mail"]:
        path = all_log_files(logs)[job][0]
        size = path.stat().st_size
        for end in [0, 1, size // 3, size // 2 + 7, size - 1]:
            for expression in ["checksum", "continued", r"exit 2[34]", "caf"]:
                searched, line_by_line = both_ways(logs, expression, limit=None, ends={str(path): end})
                assert searched == line_by_line, (expression, end)


def test_a_flood_of_continuation_lines(tmp_path: Path) -> None:
    lines = records(28, 0, [b"first record"])
    lines += [
        b"continued checksum %d" % number if number % 700 == 3 else b"noise %d" % number
        for number in range(2600)
    ]
    lines += records(28, 10, [b"checksum at the end", b"last"])
    write_log(tmp_path, "flood", "20261128T020000Z-aaaa", lines)
    for expression in ["checksum", "checksum at", "continued checksum 2"]:
        for limit in [1, 2, None]:
            searched, line_by_line = both_ways(tmp_path, expression, limit=limit)
            assert searched == line_by_line, expression


FRAGMENTS = [
    b"check", b"sum", b"CHECK", b" ", b"  ", b"] ", b"]", b"[", b"|", b"z [", b"\t", b"=", b"@", b"://",
    b"\x1b[1m", b"\x07", b"\r", b"\xe9", b"\xc3\xa9", "\u212a".encode(), b"hunter2-secret", b"aaaa | ",
    b"2026-11-28T02:00:0", b"x", b"ok", b"mis", b"match",
]  # fmt: skip
PATTERN_FRAGMENTS = ["check", "sum", "ok", " ", r"\]", r"\[", "mis", "match", r"\|", "x", r"\d", "z", "2026"]


def random_line(rng: random.Random, seconds: int) -> bytes:
    body = b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 8)))
    if rng.random() < 0.15:
        return body  # not a record
    stamp = b"2026-11-28T02:%02d:%02dZ" % (seconds // 60, seconds % 60)
    tag = rng.choice([b"rsync", b"hook", b"backupplan"])
    return stamp + b" [" + tag + b"]" + (b" " if rng.random() < 0.8 else b"") + body


def test_random_lines_and_expressions(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    registry.add(SECRET, "NAS_PASSWORD")
    for job in ["a", "b", "c"]:
        for run in range(2):
            lines = [random_line(rng, 4 * number + run) for number in range(150)]
            write_log(tmp_path, job, f"2026112{run}T020000Z-{job * 4}", lines)
    tried = 0
    for _ in range(100):
        expression = "".join(rng.choice(PATTERN_FRAGMENTS) for _ in range(rng.randint(1, 4)))
        if byte_search(compile_grep(expression)) is None:
            continue
        tried += 1
        for limit in [None, 5]:
            searched, line_by_line = both_ways(tmp_path, expression, limit=limit)
            assert searched == line_by_line, expression
    assert tried >= 40


def test_a_plain_line_is_shown_as_its_prefix_and_itself() -> None:
    """The bytes path rests on this: change how lines are shown, and this test says so."""
    registry.add(SECRET, "NAS_PASSWORD")
    plain = [
        b"2026-11-28T02:00:00Z [rsync] sent 1,234 bytes\tok",
        b"a continuation | with ] and [",
        b"x" * 300,
    ]
    for raw in plain:
        assert not raw.translate(None, logsearch._PLAIN)
        assert display_text(parse_line("photos", "20261128T020000Z-bbbb", raw, "")) == (
            "photos 20261128T020000Z-bbbb | " + raw.decode()
        )


def lines_of(blocks: Iterator[bytes]) -> list[bytes]:
    return [line for block in blocks for line in reversed(block.split(b"\n")) if line]


@pytest.mark.parametrize("chunk", [1, 5, 64, 4096, LONGEST_LINE])
def test_blocks_hold_the_lines_read_backwards(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "x.log"
    contents = [
        b"",
        b"\n",
        b"one line without a newline",
        b"a\n\nb\nc\n",
        b"first\nsecond\nthird without a newline",
        b"\n\n\nx\n\n",
    ]
    if chunk >= 4096:
        contents += [
            b"short\n" + b"L" * LONG + b"\nafter\n",
            b"L" * LONG + b"\n",
            b"L" * (2 * LONG + 5) + b"\nend",
            b"a\n" + b"L" * LONGEST_LINE + b"\n" + b"M" * (LONGEST_LINE + 1) + b"\nb",
            b"x" * (LONGEST_LINE - 3) + b"\n" + b"y" * 10 + b"\n",
        ]
    for content in contents:
        path.write_bytes(content)
        for end in sorted({len(content), len(content) // 2, max(len(content) - 1, 0), 3}):
            fd = os.open(path, os.O_RDONLY)
            try:
                assert lines_of(blocks_backwards(fd, min(end, len(content)), chunk)) == list(
                    lines_backwards(path, end)
                ), (content[:40], end)
            finally:
                os.close(fd)


def test_a_line_with_no_end_in_sight_is_not_held_whole(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "x.log"
    path.write_bytes(b"2026-11-28T02:00:00Z [rsync] " + b"x" * (16 * LONGEST_LINE) + b"\nlast\n")
    fd = os.open(path, os.O_RDONLY)
    tracemalloc.start()
    try:
        blocks = list(blocks_backwards(fd, path.stat().st_size))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        os.close(fd)
    assert lines_of(iter(blocks)) == list(lines_backwards(path))
    assert peak < 6 * LONGEST_LINE


def test_the_older_expression_finds_the_last_older_line() -> None:
    rng = random.Random(7)
    cutoff = b"2026-11-28T02:00:30Z"
    pattern = logsearch._older_pattern(cutoff)
    assert pattern is not None
    pieces = [
        b"2026-11-28T02:00:",
        b"2026-11-27T23:59:",
        b"2026-11-28T02:01:",
        b"2027-01-01T00:00:",
        b" " * 17,
        b"",
    ]
    for _ in range(300):
        lines = [
            rng.choice(pieces)
            + b"%02d" % rng.randint(0, 59)
            + rng.choice([b"Z [rsync] x", b"Z [", b".5Z [x] y", b"Z", b""])
            for _ in range(rng.randint(1, 12))
        ]
        block = b"\n".join(lines)
        starts = [sum(len(line) + 1 for line in lines[:index]) for index in range(len(lines))]
        older = [start for start, line in zip(starts, lines, strict=True) if _older(line, cutoff)]
        found = pattern.match(block)
        assert (found.start(1) if found else None) == (older[-1] if older else None), lines
    assert logsearch._older_pattern(b"2026-11-28T02:00Z") is None


def test_the_command_prints_the_same_either_way(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("NAS_PASSWORD", SECRET)
    plan = tmp_path / "backups.yaml"
    plan.write_text(
        "version: 1\nsettings: {timezone: UTC}\njobs:\n"
        '  photos: {engine: rsync, source: src, destination: out/photos, env: {RSYNC_PASSWORD: "${NAS_PASSWORD}"}}\n'
        "  mail: {engine: rsync, source: src, destination: out/mail}\n"
    )
    logs = tmp_path / ".backupplan" / "logs"
    now = datetime.now(UTC).replace(microsecond=0)
    for job, minutes in [("photos", 90), ("mail", 30)]:
        lines = []
        for number in range(40):
            stamp = (now - timedelta(minutes=minutes - number)).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
            lines.append(stamp + b" [rsync] " + TEXTS[number % len(TEXTS)])
        write_log(logs, job, (now - timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ") + "-a1b2", lines)
    write_log(logs, "photos", "20261101T020000Z-0000", hostile_run(1, 0))
    arguments = [
        [], ["-n", "3"], ["-n", "0"], ["--since", "1h"], ["--since", "45m", "-n", "5"], ["photos"], ["mail", "--last"],
        ["--last"], ["--run", "20261101"], ["photos", "--since", "2h", "-n", "0"],
    ]  # fmt: skip
    for expression in [
        "checksum mismatch",
        r"exit 2[34]",
        r"\$\{NAS_PASSWORD\}",
        "ok$",
        r"^photos .* ok",
        "continued",
    ]:
        for more in arguments:
            argv = ["logs", "-p", str(plan), "--grep", expression, *more]
            searched = cli(argv)
            with monkeypatch.context() as patched:
                patched.setattr("backupplan.commands.logs.byte_search", lambda pattern: None)
                line_by_line = cli(argv)
            assert (searched.code, searched.out, searched.err) == (
                line_by_line.code,
                line_by_line.out,
                line_by_line.err,
            )
            assert "hunter2" not in searched.out


def test_only_plain_ascii_expressions_with_a_long_enough_text_are_searched_in_bytes() -> None:
    assert byte_search(None) is None
    assert byte_search(re.compile("café", re.IGNORECASE)) is None
    assert byte_search(re.compile("ab", re.IGNORECASE)) is None
    assert byte_search(re.compile(r"\w+ \d+", re.IGNORECASE)) is None
    found = byte_search(re.compile(r"\] Error|fail", re.IGNORECASE))
    assert found is not None
    assert set(found.needles) == {b"] error", b"]error", b"fail"}
