"""Every broken plan in corpus/ gets exactly the expected, located messages (reviewed snapshots)."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(path.name for path in CORPUS.glob("*.yaml"))
SECRET = "CANARY-corpus-s3cr3t-value"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_broken_plan(name: str, cli, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(CORPUS)
    monkeypatch.setenv("BP_CORPUS_SECRET", SECRET)
    for variable in ("BP_CORPUS_UNSET_REMOTE", "BP_CORPUS_UNSET_SECRET", "BP_CORPUS_UNSET_PING"):
        monkeypatch.delenv(variable, raising=False)

    result = cli(["validate", name])

    assert result.code == 1
    assert result.out == ""
    assert "Traceback" not in result.err
    assert SECRET not in result.err
    lines = result.err.splitlines()
    assert lines[-1].endswith("found.")
    for line in lines[:-1]:
        assert line.startswith(f"{name}:"), line
    assert result.err == snapshot
