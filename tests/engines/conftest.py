"""Helpers for engine tests: run a real transfer through the executor, and check that nothing a
test started is left running."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backupplan.engines import Difference, Engine, Outcome, Progress, TransferSpec, TransferStats, judge
from backupplan.engines.base import VerifyMode
from backupplan.process.execute import ChildIdentity, ProcessResult, run_process
from tests.mounts import small_tmpfs
from tests.procs import assert_nothing_left_running


@dataclass
class Transfer:
    """One finished transfer: how the process ended, what the parser gathered, the verdict."""

    result: ProcessResult
    outcome: Outcome
    stats: TransferStats
    progress: list[Progress]
    stdout: list[bytes] = field(default_factory=list)
    stderr: list[bytes] = field(default_factory=list)


def transfer(
    engine: Engine,
    spec: TransferSpec,
    *,
    timeout: float | None = 60,
    stop_grace: float = 5,
    allow_vanished: bool = False,
    base: dict[str, str] | None = None,
    on_start: Callable[[ChildIdentity], None] | None = None,
) -> Transfer:
    """Run `spec` with `engine` for real, through run_process, and return everything observed."""
    parser = engine.parser(interval=0)
    progress: list[Progress] = []
    stdout: list[bytes] = []
    stderr: list[bytes] = []

    def feed(record: bytes, stream: str, sink: list[bytes]) -> None:
        sink.append(record)
        sample = parser.feed(record, "stdout" if stream == "stdout" else "stderr")
        if sample is not None:
            progress.append(sample)

    result = asyncio.run(
        run_process(
            engine.argv(spec),
            env=engine.environment(spec, dict(os.environ) if base is None else base),
            on_stdout=lambda record: feed(record, "stdout", stdout),
            on_stderr=lambda record: feed(record, "stderr", stderr),
            on_start=on_start,
            timeout=timeout,
            stop_grace=stop_grace,
        )
    )
    stats = parser.stats()
    return Transfer(
        result, judge(engine, result, stats, allow_vanished=allow_vanished), stats, progress, stdout, stderr
    )


def verify(engine: Engine, spec: TransferSpec, mode: VerifyMode) -> tuple[list[Difference], Outcome]:
    """Run `engine`'s verification of `spec` for real; return the differences and the verdict."""
    parser = engine.verify_parser()
    result = asyncio.run(
        run_process(
            engine.verify_argv(spec, mode),
            env=engine.environment(spec, dict(os.environ)),
            on_stdout=lambda record: parser.feed(record, "stdout"),
            on_stderr=lambda record: parser.feed(record, "stderr"),
            timeout=60,
        )
    )
    return parser.differences(), engine.verify_outcome(result.exit_code, result.signal, parser)


def command_line(identity: ChildIdentity, program: str) -> bytes:
    """Return the child's /proc command line once `program` has replaced setpriv (empty while the
    exec is under way)."""
    path = Path(f"/proc/{identity.pid}/cmdline")
    deadline = time.monotonic() + 2
    while (
        not (line := path.read_bytes()).startswith(program.encode() + b"\0") and time.monotonic() < deadline
    ):
        time.sleep(0.001)
    return line


@pytest.fixture(autouse=True)
def _nothing_left_running(tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves behind a process working on its files."""
    yield
    assert_nothing_left_running(tmp_path)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 5 MiB tmpfs mounted for this test: writing more fails with ENOSPC."""
    with small_tmpfs(tmp_path / "tiny-disk", "5m", mode="1777") as mount_point:
        yield mount_point


@pytest.fixture
def immutable_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder marked immutable (chattr +i): even root cannot create files in it."""
    folder = tmp_path / "immutable"
    folder.mkdir()
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
