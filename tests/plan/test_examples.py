"""The demo plan and every example plan validate, with placeholder values for their ${VAR}s."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "plans").glob("*.yaml"))


def test_there_are_at_least_four_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("plan", [REPO / "backups.yaml", *EXAMPLES], ids=lambda path: path.name)
def test_plan_validates(plan: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for name in set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", plan.read_text())):
        monkeypatch.setenv(name, f"placeholder-{name.lower()}")
    result = cli(["validate", str(plan)])
    assert result.code == 0, result.err
    assert result.out.startswith(f"{plan}: valid (")


@pytest.mark.parametrize("plan", EXAMPLES, ids=lambda path: path.name)
def test_examples_teach(plan: Path) -> None:
    """Examples are for newcomers: each opens with comments saying what it shows and how to try it."""
    text = plan.read_text()
    assert text.startswith("#")
    assert "Try it:" in text
    assert text.count("#") >= 8
