"""Private folders: created 0700, tightened when owned, and never a folder others rely on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from backupplan.errors import StateError
from backupplan.fsutil import ensure_private_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_folder_is_private_and_its_parents_are_not(tmp_path: Path) -> None:
    folder = ensure_private_dir(tmp_path / "site" / "state")
    assert mode(folder) == 0o700
    assert mode(tmp_path / "site") == 0o777 & ~_umask()


def test_an_existing_folder_we_own_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    ensure_private_dir(folder)
    assert mode(folder) == 0o700


def test_a_sticky_shared_folder_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(StateError, match=r"refusing to make .*shared private .*state_dir"):
        ensure_private_dir(shared)
    assert mode(shared) == 0o1777


def test_the_home_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(StateError, match="others rely on that folder"):
        ensure_private_dir(home)
    assert mode(home) == 0o755


def test_the_root_folder_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    before = mode(Path("/"))
    if not before & 0o077 or Path("/").stat().st_uid != os.geteuid():
        pytest.skip("/ is not ours or already private; nothing to refuse")
    chmods: list[Path] = []
    monkeypatch.setattr(
        Path, "chmod", lambda self, _mode: chmods.append(self)
    )  # a regression must not lock the machine
    with pytest.raises(StateError, match="refusing to make / private"):
        ensure_private_dir(Path("/"))
    assert chmods == []


def test_a_state_dir_under_tmp_through_a_plan_is_refused_not_applied(tmp_path: Path) -> None:
    from backupplan.journal import Journal

    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(StateError, match="refusing"):
        Journal.open(shared).close()
    assert mode(shared) == 0o1777


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
