"""Fixtures of the journal tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.journal.helpers import Clock, fast_folder


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    folder = fast_folder(tmp_path)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
