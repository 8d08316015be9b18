"""Run logs as the runner leaves them, for tests that read them back."""

from __future__ import annotations

from pathlib import Path


def write_log(logs: Path, job: str, run: str, lines: list[bytes]) -> Path:
    """Write `lines` as LOGS/<job>/<run>.log, each ending in a newline; return its path."""
    path = logs / job / f"{run}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path
