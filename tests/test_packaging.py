"""The wheel: what `pip install .` gives a user."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("backupplan-*.whl")
    return built


@pytest.mark.slow
def test_wheel_ships_templates_and_entry_point(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    templates = sorted(REPO.joinpath("site_templates").rglob("*"))
    assert templates
    for template in templates:
        if template.is_file():
            relative = template.relative_to(REPO).as_posix()
            assert f"backupplan/{relative}" in names, relative
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "backupplan = backupplan.cli:main" in text
    assert not any(name.startswith(("tests/", "bench/")) for name in names)


@pytest.mark.slow
def test_wheel_installs_the_man_page(wheel: Path, tmp_path: Path) -> None:
    page = "share/man/man1/backupplan.1"
    names = zipfile.ZipFile(wheel).namelist()
    assert any(name.endswith(f".data/data/{page}") for name in names), names
    prefix = tmp_path / "prefix"
    # --ignore-installed: else pip uninstalls the backupplan of the running environment first.
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--ignore-installed", "--quiet"]
    subprocess.run([*install, "--prefix", str(prefix), str(wheel)], check=True, capture_output=True)
    assert (prefix / page).read_text() == (REPO / page).read_text()


@pytest.mark.slow
def test_sdist_holds_the_man_page(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = tmp_path.glob("backupplan-*.tar.gz")
    with tarfile.open(built) as archive:
        names = archive.getnames()
    assert any(name.endswith("/share/man/man1/backupplan.1") for name in names)


@pytest.mark.slow
def test_installed_wheel_runs(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-m", "backupplan", "--version"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("backupplan ")
    assert (target / "backupplan" / "site_templates").is_dir()
