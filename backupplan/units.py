"""Sizes and durations as people write them in a plan, and back.

Sizes: `512`, `0` (bytes only for 0: a bare number is ambiguous for anything else), `5MiB`, `5MB`,
`5M` (binary, like rsync), `1.5GiB`, an optional `/s` for rates. Decimal units (`KB`, `MB`, …) are
powers of 1000; binary ones (`KiB`, `MiB`, … and the bare letters `K`, `M`, …) powers of 1024.

Durations: `30s`, `5m`, `4h`, `1d`, `2w`, `1h30m`, `1.5h`, `0`.
"""

from __future__ import annotations

import re

_SIZE = re.compile(
    r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<prefix>[kmgtp]?)(?P<binary>i?)(?P<unit>b?)\s*(?:/s)?\s*$", re.I
)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_DURATION_PART = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d|w)", re.I)
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$", re.I)
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

SIZE_HINT = "write a number with a unit, like 500KiB, 5MiB, 5MB or 1GiB; 0 means none"
DURATION_HINT = "write a number with a unit, like 30s, 5m, 4h, 1d or 1h30m"


def parse_size(value: object) -> int:
    """Given `5MiB`, `5MB`, `0` …, return bytes; raise ValueError with a human message otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a size, got true/false")
    if isinstance(value, int):
        if value == 0:
            return 0
        raise ValueError(f"a bare number is ambiguous: is {value} bytes, KiB or MiB?")
    if isinstance(value, float):
        raise ValueError(f"a bare number is ambiguous: is {value} bytes, KiB or MiB?")
    if not isinstance(value, str):
        raise ValueError("expected a size")
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a size")
    prefix = match["prefix"].lower()
    if not prefix and not match["unit"] and float(match["number"]) != 0:
        raise ValueError(f"{value!r} has no unit")
    if match["binary"] and not prefix:
        raise ValueError(f"{value!r} is not a size")
    decimal = bool(match["unit"]) and not match["binary"] and bool(prefix)
    base = 1000 if decimal else 1024
    return int(float(match["number"]) * base ** _POWERS[prefix])


def parse_duration(value: object) -> float:
    """Given `30s`, `1h30m`, `0` …, return seconds; raise ValueError with a human message otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration, got true/false")
    if isinstance(value, int | float):
        if value == 0:
            return 0.0
        raise ValueError(f"{value} has no unit: seconds, minutes or hours?")
    if not isinstance(value, str):
        raise ValueError("expected a duration")
    if value.strip() == "0":
        return 0.0
    if not _DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration")
    return sum(
        float(part["number"]) * _SECONDS[part["unit"].lower()] for part in _DURATION_PART.finditer(value)
    )


def format_size(count: float) -> str:
    """Given bytes, return a short human form: `0 B`, `1.5 KiB`, `12.3 MiB`."""
    number = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(number) < 1024 or unit == "TiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """Given seconds, return `45s`, `3m05s`, `2h10m`, `3d4h`."""
    total = round(seconds)
    if seconds < 10 and seconds != total:
        return f"{seconds:.1f}s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def canonical_duration(seconds: float) -> str:
    """Given seconds, return the shortest exact plan spelling (`90m` → `1h30m`)."""
    if seconds == 0:
        return "0"
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    total = int(seconds)
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def canonical_size(count: int) -> str:
    """Given bytes, return the shortest exact plan spelling (`5242880` → `5MiB`, 0 → `0`)."""
    if count == 0:
        return "0"
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count % size == 0:
            return f"{count // size}{unit}"
    for unit, size in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if count % size == 0:
            return f"{count // size}{unit}"
    return f"{count}B"
