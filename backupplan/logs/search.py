"""`logs --grep` in bytes: whole blocks of a log file searched at once, only likely lines parsed.

The lines `--grep` keeps are those its expression matches as shown: `job run | line`, secrets
masked, control characters made visible (`backupplan.commands.logs.display_text`). Matching that
text for every line costs Python a few microseconds a line, 40 times what `grep` takes. Instead,
each block of a file (up to 1 MiB of whole lines) is searched with `bytes.find` for a text every
match must hold (`backupplan.logs.literals`), lower-cased like the block; only the lines found,
and the lines that may be shown otherwise than they are written, are parsed and matched with the
expression itself, exactly as before. The result is the same line for line; only the work differs.

A line is shown as exactly `job run | ` + the line when it is *plain*: printable ASCII and tabs,
no `=` or `@` (which URL masking looks for), no secret of the plan, and, for a record, a space
after its tag (`[rsync]x` is shown `[rsync] x`, which the needles account for). Every other line
is a candidate, whatever it holds. A file is read the slow way, line by line as before, when:

- its job or run id (the shown prefix) is not plain, or already holds a needle or a secret;
- it holds a candidate that is not a record (a continuation line takes the time of the record
  before it, which reading from the end has not met yet; this covers lines cut for being longer
  than 1 MiB): the lines already given are skipped from the slow reading of the file;
- `--since` is not a timestamp to the second (the command always gives one).

`byte_search` decides, once per expression, whether the bytes path applies. It does not, and every
line is matched the slow way, when the expression is not ASCII (`café`, `\u212a`: letters outside
ASCII can match ASCII ones ignoring case, `K` the Kelvin sign), or when it requires no text of at
least MIN_NEEDLE characters (`\\d+`, `[ab]c`, `.`, `^$`): then no block search can narrow it.
Classes such as `\\w` and `\\s`, which are wider for text than for bytes, are never searched in
bytes: they are matched, on the lines found, by the expression itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

from backupplan.logs.literals import required_texts
from backupplan.logs.view import LONGEST_LINE, FileLines, LogLine, cut_line, parse_line, run_of
from backupplan.secrets import registry

CHUNK = LONGEST_LINE  # bytes read at a time; not more, so only the line a read completes can be too long
MIN_NEEDLE = 3  # shorter texts are in most lines: searching for them would parse nearly every line
MAX_NEEDLES = 8

# Bytes a plain line may hold (see the module's docstring); any other marks the line a candidate.
_PLAIN = bytes(sorted({0x09, 0x0A, *range(0x20, 0x7F)} - {ord("="), ord("@")}))
# One pass over a block gives the text to search for needles and the lines that are not plain:
# ASCII letters lower-cased, every byte a plain line cannot hold turned into NUL.
_FOLD = bytes(byte if byte in _PLAIN else 0 for byte in range(256)).lower()
_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class ByteSearch:
    """The texts (lower-cased) one of which a line must hold to match, and the secrets that make a
    line a candidate; `file_lines` reads one file with them."""

    def __init__(self, texts: list[str], secrets: list[str]) -> None:
        needles = [variant for text in texts for variant in _spaced(text.encode("ascii"))]
        self.needles = tuple(dict.fromkeys(needles))
        # A secret with a byte a plain line cannot hold is only ever in candidates already; one
        # with `] ` may be shown masked where the file holds `]` without the space.
        self.secrets = tuple(
            variant
            for written in (secret.encode() for secret in secrets)
            if not written.translate(None, _PLAIN)
            for variant in _spaced(written)
        )
        self._needle_beginnings = _beginnings(self.needles)
        self._secret_beginnings = _beginnings(self.secrets)

    def file_lines(
        self,
        job: str,
        path: Path,
        end: int | None,
        since: bytes | None,
        keep: Callable[[LogLine], bool],
        each_line: Callable[[int | None], FileLines],
    ) -> FileLines:
        """Given a job's log file (read up to byte `end`), yield the lines `keep` accepts, newest
        first, and return True when a line older than `since` ends the job's lines: exactly what
        `each_line(end)`, the line-by-line reading, yields and returns."""
        run = run_of(path)
        starters = self._line_starters(f"{job} {run} | ")
        older = _older_pattern(since) if since is not None else None
        if starters is None or (since is not None and older is None):
            return (yield from each_line(end))
        kept = 0
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            region = size if end is None else min(size, end)
            for block in blocks_backwards(fd, region):
                found = older.match(block) if older is not None else None
                floor = found.start(1) if found is not None else -1
                for start in self._candidates(block, starters):
                    if start <= floor:
                        break
                    newline = block.find(b"\n", start)
                    line = parse_line(job, run, block[start : newline if newline >= 0 else len(block)], "")
                    if not line.tag:  # its time is the record's before it: read the file line by line
                        return (yield from _after(each_line(region), kept))
                    if keep(line):
                        kept += 1
                        yield line
                if found is not None:
                    return True
        finally:
            os.close(fd)
        return False

    def _line_starters(self, prefix: str) -> tuple[tuple[bytes, ...], tuple[bytes, ...]] | None:
        """For the lines of a file shown after `prefix`: the ends of needles and of secrets that
        the prefix begins, which make a line starting with them a candidate; None when the prefix
        is not plain or holds a whole needle or secret (every line is then a candidate)."""
        if not _is_plain(prefix):
            return None
        lowered, written = prefix.lower().encode(), prefix.encode()
        for needle in self.needles:
            if needle in lowered:
                return None
        for secret in self.secrets:
            if secret in written:
                return None
        return (
            tuple(rest for begun, rest in self._needle_beginnings if lowered.endswith(begun)),
            tuple(rest for begun, rest in self._secret_beginnings if written.endswith(begun)),
        )

    def _candidates(self, block: bytes, starters: tuple[tuple[bytes, ...], tuple[bytes, ...]]) -> list[int]:
        """Where the lines of `block` that may match start, newest first."""
        needle_starters, secret_starters = starters
        folded = block.translate(_FOLD)
        starts: set[int] = set()
        for needle in self.needles:
            _add_lines(folded, needle, starts)
        for begun in needle_starters:
            _add_lines_starting(folded, begun, starts)
        _add_lines(folded, b"\0", starts)  # lines that are not plain
        for secret in self.secrets:
            _add_lines(block, secret, starts)
        for begun in secret_starters:
            _add_lines_starting(block, begun, starts)
        return sorted(starts, reverse=True)


def byte_search(pattern: re.Pattern[str] | None) -> ByteSearch | None:
    """Given the --grep expression, return how to search for it in bytes, or None when it must be
    matched line by line (see the module's docstring): the one place that decides."""
    if pattern is None or not pattern.pattern.isascii():
        return None
    texts = required_texts(pattern)
    if texts is None or len(texts) > MAX_NEEDLES or min(len(text) for text in texts) < MIN_NEEDLE:
        return None
    return ByteSearch(texts, registry.values())


def blocks_backwards(fd: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """Given an open file and where to stop, yield its bytes before `end` as blocks of whole lines
    joined by newlines, last block first. Taken last first, the blocks' non-empty lines are the
    lines `lines_backwards` yields; a line longer than LONGEST_LINE comes alone, cut as it cuts it.
    `chunk` (at most LONGEST_LINE) is how much is read at a time."""
    position = end
    carry = b""  # what follows `position` up to its first newline: a line whose start is not read yet
    cutting = False  # that line was too long and was given cut: the rest of it is skipped
    while position > 0:
        step = min(chunk, position)
        position -= step
        data = os.pread(fd, step, position)
        first = data.find(b"\n") if position > 0 else -1
        if first < 0 and position > 0:  # all of it is inside one line
            if not cutting:
                carry = data + carry
                if len(carry) > LONGEST_LINE:
                    yield cut_line(carry)
                    cutting, carry = True, b""
            continue
        block = data[first + 1 :]
        if carry or cutting:  # the last line of `block` goes on in `carry`
            last = block.rfind(b"\n")
            ending = block[last + 1 :] + carry
            block = block[: max(last, 0)]
            if cutting:
                cutting = False
            elif len(ending) > LONGEST_LINE:
                yield cut_line(ending)
            else:
                block = block + b"\n" + ending if last >= 0 else ending
        carry = data[:first] if first >= 0 else b""
        if block:
            yield block


def _after(lines: FileLines, count: int) -> FileLines:
    """The lines `lines` yields after its first `count` (given already), and what it returns."""
    for _ in range(count):
        if next(lines, None) is None:
            return False  # the file shrank since: nothing more to give
    return (yield from lines)


def _is_plain(text: str) -> bool:
    return text.isascii() and text.isprintable() and "=" not in text and "@" not in text


def _spaced(needle: bytes) -> list[bytes]:
    """The needle (or secret), and how a file may hold it where a record's line is shown with a
    space after its tag that the file does not have (`] x` shown, `]x` written): `] ` without its
    space, or a leading space as the tag's `]`."""
    variants = [needle]
    for index in range(len(needle)):
        if needle[index] == 0x20 and index == 0:
            variants.append(b"]" + needle[1:])
        elif needle[index] == 0x20 and needle[index - 1] == ord("]"):
            variants.append(needle[:index] + needle[index + 1 :])
    return variants


def _beginnings(texts: tuple[bytes, ...]) -> tuple[tuple[bytes, bytes], ...]:
    """Each way to split a text into a beginning that may end a shown prefix, which ends with ` | `,
    and the rest, which the line must then start with (`b | 20` begun by `job a-b | `: `20`)."""
    splits = ((text[:cut], text[cut:]) for text in texts for cut in range(1, len(text)))
    return tuple((begun, rest) for begun, rest in splits if b" | ".endswith(begun) or begun.endswith(b" | "))


def _add_lines(block: bytes, text: bytes, starts: set[int]) -> None:
    """Add to `starts` where each line of `block` holding `text` starts."""
    position = block.find(text)
    while position >= 0:
        starts.add(block.rfind(b"\n", 0, position) + 1)
        following = block.find(b"\n", position)
        if following < 0:
            return
        position = block.find(text, following + 1)


def _add_lines_starting(block: bytes, text: bytes, starts: set[int]) -> None:
    """Add to `starts` where each line of `block` starting with `text` starts."""
    if block.startswith(text):
        starts.add(0)
    position = block.find(b"\n" + text)
    while position >= 0:
        starts.add(position + 1)
        position = block.find(b"\n" + text, position + 1)


@lru_cache(maxsize=8)
def _older_pattern(since: bytes) -> re.Pattern[bytes] | None:
    """Given a `2026-11-28T02:00:00Z` cutoff, return the expression whose `.match(block)` finds, in
    group 1, the start of the block's last line that `view._older` calls older: stamped to the
    second (`…Z [` at 19) before the cutoff. The greedy `.*\\n` finds the last one scanning back
    from the block's end. None for a cutoff of another form."""
    if not _STAMP.fullmatch(since):
        return None
    # Before the cutoff: equal up to some character, then lower there, then any 18-i characters.
    before = b"(?!)"
    for index in reversed(range(19)):
        lower = b"[^\\n\\x%02x-\\xff]" % since[index]
        before = b"(?:%s%s|%s[^\\n]{%d})" % (re.escape(since[index : index + 1]), before, lower, 18 - index)
    return re.compile(rb"(?s)(?:.*\n)?(" + before + rb")Z \[")
