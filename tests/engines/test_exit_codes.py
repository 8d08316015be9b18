"""Exit-code classification end to end: a stand-in rsync/rclone on PATH exits with every code the
real tools document (and some they do not), or kills itself with a signal; the real argv goes
through run_process and `judge` (the real tools cannot be made to produce most of these codes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backupplan.engines import ENGINES, TransferSpec
from tests.engines.conftest import transfer

RSYNC_KINDS = {
    **dict.fromkeys(range(36), "fatal"),  # unknown codes are failures
    0: "ok",
    10: "retryable",
    12: "retryable",
    24: "warning",  # only because allow_vanished is set below
    30: "retryable",
    35: "retryable",
}
RCLONE_KINDS = {
    **dict.fromkeys(range(11), "fatal"),
    0: "ok",
    1: "retryable",  # only because its error line shows a network failure
    2: "retryable",
    5: "retryable",
    9: "warning",
}


def stand_in(folder: Path, program: str, body: str) -> dict[str, str]:
    """Put an executable `program` running `body` first on PATH; return that environment."""
    folder.mkdir(exist_ok=True)
    script = folder / program
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("code", sorted(RSYNC_KINDS))
def test_rsync_exit_codes(tmp_path: Path, code: int) -> None:
    env = stand_in(tmp_path / "bin", "rsync", f"echo 'rsync: failure number {code}' >&2\nexit {code}")
    done = transfer(
        ENGINES["rsync"], TransferSpec("/nowhere/", str(tmp_path / "dst")), base=env, allow_vanished=True
    )
    assert done.result.exit_code == code
    assert done.outcome.kind == RSYNC_KINDS[code]
    assert done.outcome.exit_code == code
    if code:
        assert done.outcome.message.startswith(f"exit {code}: ")
        assert done.outcome.message.endswith(f"rsync: failure number {code}")


def test_rsync_24_without_permission_is_a_failure(tmp_path: Path) -> None:
    env = stand_in(tmp_path / "bin", "rsync", "exit 24")
    done = transfer(ENGINES["rsync"], TransferSpec("/nowhere/", str(tmp_path / "dst")), base=env)
    assert done.outcome.kind == "fatal"


@pytest.mark.parametrize("code", sorted(RCLONE_KINDS))
def test_rclone_exit_codes(tmp_path: Path, code: int) -> None:
    line = f'{{"level":"error","msg":"attempt {code}: dial tcp 127.0.0.1:9: connect: connection refused"}}'
    env = stand_in(tmp_path / "bin", "rclone", f"echo '{line}' >&2\nexit {code}")
    done = transfer(ENGINES["rclone"], TransferSpec("/nowhere/", "remote:bucket"), base=env)
    assert done.result.exit_code == code
    assert done.outcome.kind == RCLONE_KINDS[code]


@pytest.mark.parametrize(
    ("engine", "signal_name"), [("rsync", "KILL"), ("rclone", "TERM"), ("rsync", "SEGV")]
)
def test_a_tool_killed_by_a_signal_failed(tmp_path: Path, engine: str, signal_name: str) -> None:
    env = stand_in(tmp_path / "bin", engine, f"kill -{signal_name} $$")
    done = transfer(ENGINES[engine], TransferSpec("/nowhere/", str(tmp_path / "dst")), base=env)
    assert done.result.exit_code is None
    assert done.outcome.kind == "fatal"
    assert done.outcome.message == f"{engine} was killed by signal SIG{signal_name}"
