from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backupplan.units import (
    canonical_duration,
    canonical_size,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        (0, 0),
        ("5MiB", 5 * 1024**2),
        ("5MB", 5_000_000),
        ("5M", 5 * 1024**2),
        ("500KiB", 512_000),
        ("500K", 512_000),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("10mib/s", 10 * 1024**2),
        ("5 MiB", 5 * 1024**2),
        ("123B", 123),
        ("2TB", 2 * 1000**4),
        ("1k", 1024),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text", [5000, 1.5, "5000", "fast", "5 megabytes", "MiB", True, "-5MiB", "5iB", None]
)
def test_parse_size_rejects(text: object) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        (0, 0),
        ("30s", 30),
        ("5m", 300),
        ("4h", 14400),
        ("1d", 86400),
        ("2w", 1209600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("500ms", 0.5),
        ("1h 30m", 5400),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [4, 1.5, "4", "soon", "1 hour", "h", False, "-5m", None])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=2**50))
def test_canonical_size_round_trips(count: int) -> None:
    assert parse_size(canonical_size(count)) == count


@given(st.integers(min_value=0, max_value=10**8))
def test_canonical_duration_round_trips(seconds: int) -> None:
    assert parse_duration(canonical_duration(seconds)) == seconds


def test_formatting() -> None:
    assert format_size(0) == "0 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(5 * 1024**3) == "5.0 GiB"
    assert format_duration(45) == "45s"
    assert format_duration(185) == "3m05s"
    assert format_duration(7800) == "2h10m"
    assert format_duration(3 * 86400 + 4 * 3600) == "3d4h"
    assert format_duration(1.25) == "1.2s"
