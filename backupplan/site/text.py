"""Text made safe to show: control characters neutralised, long text clipped, names made file-safe.

Everything the site displays comes from plans, journals and logs, which may hold any character.
The templates escape HTML; this module takes care of what escaping does not: terminal escape
sequences, control characters (invalid in XML, confusing in HTML), bidirectional overrides that
can make text read backwards, lone surrogates that cannot be encoded, and lines so long they would
bury a page.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from datetime import UTC, datetime

from backupplan.units import format_duration, format_size

# ANSI/VT escape sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks), and two-byte ones.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)
# Characters that are not shown as themselves: C0 controls except tab, DEL, C1 controls, lone
# surrogates, bidirectional overrides and isolates, line/paragraph separators, BOM.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]")
_UNSAFE_MULTILINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]"
)

_CANONICAL_TIME = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ\Z"
)

SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SAFE_RUN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise(text: str, *, multiline: bool = False) -> str:
    """Given any text, return it without terminal escapes and with every control character shown as
    `\\xNN` (or `\\uNNNN`), so that it renders as plain, valid, left-to-right text."""
    if text.isascii() and text.isprintable():
        return text  # the common case, kept fast
    text = _ANSI.sub("", text)
    return (_UNSAFE_MULTILINE if multiline else _UNSAFE).sub(_visible, text)


def show_controls(text: str) -> str:
    """Given text of many lines (a published changes list), return it with every control character
    but newline and tab shown as `\\xNN`: nothing is removed, so a name reads as it was recorded."""
    return _UNSAFE_MULTILINE.sub(_visible, text)


# After a run of `/`, `-` or `_` with more text to come: where a name or a path may wrap.
_BREAKS = re.compile(r"([/_-]+)(?=[^/_-])")


def with_breaks(escaped: str) -> str:
    """Given text already escaped for HTML, return it with `<wbr>` after each `/`, `-` and `_`, so
    that a long job name or path wraps there, never in the middle of a word (docs/site.md)."""
    if "/" not in escaped and "-" not in escaped and "_" not in escaped:
        return escaped
    return _BREAKS.sub(r"\1<wbr>", escaped)


def shell_word(text: str) -> str:
    """Given a job id, return it as one word of a shell command (quoted only when it must be)."""
    return shlex.quote(text)


def clip(text: str, limit: int) -> str:
    """Given text, return at most `limit` characters of it, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters]"


def display(value: object, limit: int = 2000) -> str:
    """Given any value from the data, return the text to show for it: neutralised and clipped."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return clip(neutralise(text), limit)


def safe_name(text: str, pattern: re.Pattern[str] = SAFE_NAME) -> str:
    """Given a job or run id, return a name usable as a file or folder name and in a URL.

    Ids that are already plain (`photos`, `20261128T020000Z-3f9a`) are kept; anything else becomes
    a readable slug plus a short hash of the original, so two different ids never share a name.
    """
    if pattern.match(text) and text not in {".", ".."}:
        return text
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:40] or "x"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug}-{digest}"


def job_name(job_id: str) -> str:
    """The folder name of a job under jobs/, logs/ and badges/."""
    return safe_name(job_id, SAFE_NAME)


def run_name(run_id: str) -> str:
    """The file name (without extension) of a run's published log."""
    return safe_name(run_id, SAFE_RUN)


def parse_time(value: object) -> datetime | None:
    """Given an RFC 3339 UTC timestamp (`2026-11-28T02:00:03Z`), return an aware datetime, or None
    for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rfc3339(value: object) -> str | None:
    """Given a timestamp (text or an aware datetime), return it as RFC 3339 UTC to the second
    (`2026-11-28T02:00:03Z`); None for anything that is not a time."""
    if isinstance(value, str) and _CANONICAL_TIME.match(value):
        return value  # the contract's own form, the common case: a dashboard of 1,000 jobs reads 1,000
    moment = value if isinstance(value, datetime) else parse_time(value)
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time(value: object) -> str:
    """Given an RFC 3339 timestamp, return `2026-11-28 02:00 UTC`; other values as text."""
    if isinstance(value, str) and len(value) == 20 and value[10] == "T" and value[19] == "Z":
        return f"{value[:10]} {value[11:16]} UTC"  # the contract's own form, the common case
    moment = parse_time(value)
    if moment is None:
        return display(value, 64) if value else "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_relative(value: object, now: datetime) -> str:
    """Given a timestamp and the build's clock, return `3 min ago`, `in 2 h` or `—`."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    seconds = (moment - now).total_seconds()
    future = seconds > 0
    span = abs(seconds)
    if span < 60:
        amount = f"{span:.0f} s"
    elif span < 3600:
        amount = f"{span // 60:.0f} min"
    elif span < 172800:
        amount = f"{span // 3600:.0f} h"
    else:
        amount = f"{span // 86400:.0f} days"
    return f"in {amount}" if future else f"{amount} ago"


def format_bytes(value: object) -> str:
    """Given a byte count, return `12.3 MiB`; `—` when unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return format_size(value)


def format_seconds(value: object) -> str:
    """Given seconds, return `3m05s`; `—` when unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return format_duration(float(value))


def format_number(value: object) -> str:
    """Given a count, return it with thousands separators; `—` when unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:,.0f}"
