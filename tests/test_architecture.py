"""The house rules of docs/architecture.md that import-linter cannot see: every room is in the
layers contract and on the map, the package root stays small, and no module grows past 450 lines."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "backupplan"
MAX_LINES = 450
MAX_ROOT_MODULES = 6


def rooms() -> list[str]:
    """Every package and root module of backupplan but `__init__` and `__main__`."""
    found = [path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()]
    found += [path.stem for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", "__main__")]
    return sorted(found)


def layered() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [contract for contract in config["contracts"] if contract["type"] == "layers"]
    return {
        name.strip().removeprefix("backupplan.") for layer in layers["layers"] for name in layer.split("|")
    }


def test_every_room_is_in_the_layers_contract() -> None:
    assert set(rooms()) == layered()


def test_every_room_is_on_the_map() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    missing = [room for room in rooms() if f"{room}/" not in text and f"{room}.py" not in text]
    assert missing == []


def test_the_package_root_holds_a_few_foundations() -> None:
    modules = [path.name for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", "__main__")]
    assert len(modules) <= MAX_ROOT_MODULES, modules


def test_no_module_is_past_450_lines() -> None:
    long = {
        str(path.relative_to(REPO)): count
        for path in PACKAGE.rglob("*.py")
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
