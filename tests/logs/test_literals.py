"""backupplan.logs.literals: the texts an expression cannot match without."""

from __future__ import annotations

import re

import pytest

from backupplan.logs.literals import required_texts


@pytest.mark.parametrize(
    ("expression", "texts"),
    [
        ("checksum mismatch on inode", ["checksum mismatch on inode"]),
        ("CHECKSUM Mismatch", ["checksum mismatch"]),
        (r"exit 2[34]", ["exit 2"]),
        (r"\[HOOK\]|^mail .* ok$", ["[hook]", "mail "]),
        (r"(?:err|fail)ed", ["err", "fail"]),
        (r"ERR(OR)?|fail", ["err", "fail"]),
        (r"error|error", ["error"]),
        (r"(abc)+x", ["abc"]),
        (r"(?>abc)d?", ["abc"]),
        (r"(?x) c h e c k \s+ sum", ["check"]),
        (r"(?-i:ABC)", ["abc"]),
        (r"\x41bc\.d", ["abc.d"]),
        (r"\tchecksum", ["\tchecksum"]),
        (r"caf\xe9s", ["caf"]),  # é is not ASCII: it ends the text
        (r"chec\u212asum", ["chec"]),  # the Kelvin sign matches k ignoring case: it ends the text
        (r"on inode\r", ["on inode"]),
    ],
)
def test_the_longest_required_texts(expression: str, texts: list[str]) -> None:
    assert required_texts(re.compile(expression, re.IGNORECASE)) == texts


@pytest.mark.parametrize(
    "expression", [r"\d+", ".", "^$", r"[ab]c", r"a?b?c?", r"x{0,3}yz|q", r"(?:abc)?", r"\w+"]
)
def test_nothing_required(expression: str) -> None:
    texts = required_texts(re.compile(expression, re.IGNORECASE))
    assert texts is None or min(len(text) for text in texts) < 3


SAMPLES = [
    "job0001 20261128T020000Z-aaaa | 2026-11-28T02:00:00Z [rsync] CHECKSUM mismatch ON inode 42",
    "mail 20261128T020003Z-cccc | 2026-11-28T02:00:09Z [hook] rsync error: EXIT 23 (code 23)",
    "mail 20261128T020003Z-cccc | continued output\twith a tab",
    "photos 20261128T020000Z-bbbb | 2026-11-28T02:00:07.250Z [backupplan] attempt 2 of 3 failed",
]
EXPRESSIONS = [
    "checksum mismatch", r"exit 2[34]", r"^mail .*\[HOOK\]", r"(?:err|fail)(?:or|ed)", r"ATTEMPT \d of",
    r"continued\s+output", r"(?x) c o n t i n u e d", r"\| 2026-11-28T02:00:0[5-9]", r"(?-i:EXIT) 2",
    r"code (\d+)\)", r"cccc \| 2026", r"(?:tab|output)+", r"\[rsync\] check",
]  # fmt: skip


def test_every_match_holds_a_required_text() -> None:
    matched = 0
    for expression in EXPRESSIONS:
        pattern = re.compile(expression, re.IGNORECASE)
        texts = required_texts(pattern)
        assert texts, expression
        for sample in SAMPLES:
            for match in pattern.finditer(sample):
                matched += 1
                assert any(text in match.group(0).lower() for text in texts), (expression, sample)
    assert matched >= len(EXPRESSIONS)
