"""The text a regular expression cannot match without: what `logs --grep` looks for in bytes.

`exit 2[34]` cannot match a line without `exit 2` in it, `(error|fail)ed` not without `error` or
`fail`. Searching a whole block of a log file for such a text (`bytes.find`, which runs at memory
speed) finds the few lines worth matching against the expression itself, instead of matching every
line in Python. The expression is read with the standard library's own parser (`re._parser`, the
one `re.compile` uses), so escapes, classes, groups and `(?x)` are understood exactly as `re` does.
"""

from __future__ import annotations

import re
from re import _parser as parser  # type: ignore[attr-defined]
from typing import Any

# Characters a needle may hold: printable ASCII and tab, the characters a log line shows as
# themselves. Anything else (a newline, a control character, a letter outside ASCII, which may
# match an ASCII one ignoring case: the Kelvin sign matches k) ends a needle.
_SHOWN_AS_IS = frozenset(range(0x20, 0x7F)) | {0x09}
_REPEATS = {parser.MAX_REPEAT, parser.MIN_REPEAT, parser.POSSESSIVE_REPEAT}


def required_texts(pattern: re.Pattern[str]) -> list[str] | None:
    """Given a compiled expression, return texts, lower-cased, at least one of which every match
    holds (in any case); the longest such choice found, or None when none is known (`\\d+`,
    `[ab]c`, `.`) or the expression cannot be read."""
    try:
        return _required(parser.parse(pattern.pattern, pattern.flags))
    except (AttributeError, TypeError, ValueError, IndexError, re.error):
        return None  # another Python's parser: searching every line stays correct


def _required(items: Any) -> list[str] | None:
    """The best texts a parsed sequence requires: of each run of literal characters and each part
    that must match (a group, a repeat of at least once, an alternation whose every branch requires
    texts), the choice whose shortest text is longest."""
    best: list[str] | None = None
    run: list[str] = []

    def consider(texts: list[str] | None) -> None:
        nonlocal best
        if texts and all(texts) and (best is None or _score(texts) > _score(best)):
            best = list(dict.fromkeys(texts))

    for op, value in items:
        if op is parser.LITERAL and value in _SHOWN_AS_IS:
            run.append(chr(value).lower())
            continue
        consider(["".join(run)])
        run = []
        if op is parser.SUBPATTERN:
            consider(_required(value[-1]))
        elif op is parser.ATOMIC_GROUP:
            consider(_required(value))
        elif op in _REPEATS and value[0] >= 1:
            consider(_required(value[2]))
        elif op is parser.BRANCH:
            branches = [_required(branch) for branch in value[1]]
            if all(branches):
                consider([text for branch in branches if branch for text in branch])
    consider(["".join(run)])
    return best


def _score(texts: list[str]) -> tuple[int, int]:
    """Longer shortest text first, then fewer texts."""
    return (min(len(text) for text in texts), -len(set(texts)))
