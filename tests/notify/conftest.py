"""A real HTTP receiver on 127.0.0.1 that records every request, and a port nobody listens on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from backupplan.plan.load import LoadedPlan, load_plan
from tests.receiver import Received, Receiver  # noqa: F401


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def write_plan(tmp_path: Path):  # type: ignore[no-untyped-def]
    """write_plan(yaml_text) -> LoadedPlan, from a plan file in tmp_path."""

    def write(text: str) -> LoadedPlan:
        path = tmp_path / "backups.yaml"
        path.write_text(text)
        return load_plan(str(path))

    return write
