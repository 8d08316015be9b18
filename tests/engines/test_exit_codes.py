"""Exit-code classification end to end. A stand-in rsync/rclone on PATH exits with each code the
real tools document (and some they do not) that they cannot be made to produce here; the codes
they can produce are made by the real tools in test_rsync_live.py and test_rclone_live.py (REAL
below), and signals are sent to the real tools. The real argv goes through run_process and `judge`."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from backupplan.engines import ENGINES, TransferSpec
from backupplan.process.execute import ChildIdentity
from tests.engines.conftest import transfer
from tests.trees import big_file

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
# Produced by the real tools in the live tests: missing source (rsync 23, rclone 3), missing
# destination or full disk (rsync 11, rclone 1), an immutable destination (rsync 23, rclone 1), a
# daemon that is down (rsync 10, rclone 1), a timeout (rsync 20), vanished files (24).
REAL_RSYNC = {0, 10, 11, 20, 23, 24}
REAL_RCLONE = {0, 1, 3}


def stand_in(folder: Path, program: str, body: str) -> dict[str, str]:
    """Put an executable `program` running `body` first on PATH; return that environment."""
    folder.mkdir(exist_ok=True)
    script = folder / program
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("code", sorted(set(RSYNC_KINDS) - REAL_RSYNC))
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


@pytest.mark.parametrize("code", sorted(set(RCLONE_KINDS) - REAL_RCLONE))
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
    big_file(tmp_path / "src" / "big.bin", 20_000_000)
    number = getattr(signal, f"SIG{signal_name}")

    def started(identity: ChildIdentity) -> None:
        threading.Timer(0.3, os.kill, (identity.pid, number)).start()

    spec = TransferSpec(f"{tmp_path}/src/", str(tmp_path / "dst"), bandwidth=2 * 1024 * 1024)
    done = transfer(ENGINES[engine], spec, on_start=started)
    assert done.result.exit_code is None
    assert done.outcome.kind == "fatal"
    # rsync's other half adds its own complaint about the lost connection after the signal
    assert done.outcome.message.startswith(f"{engine} was killed by signal SIG{signal_name}")
