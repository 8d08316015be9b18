"""`backupplan history JOB`: runs newest first, JSON, limits and unknown jobs."""

from __future__ import annotations

import json
from pathlib import Path

from syrupy.assertion import SnapshotAssertion

from backupplan.journal import JobLock
from tests.journal.helpers import demo


def test_history_table(tmp_path: Path, cli, snapshot: SnapshotAssertion) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    with JobLock(state_dir, "docs"):
        result = cli(["history", "docs", "-p", str(plan)])
    assert result.code == 0, result.err
    assert result.out == snapshot


def test_history_json_and_limit(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    with JobLock(state_dir, "docs"):
        result = cli(["history", "docs", "-p", str(plan), "--json", "--limit", "2"])
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert (document["format"], document["job"]) == (1, "docs")
    assert [(run["run"], run["status"]) for run in document["runs"]] == [
        ("20261128T115800Z-0005", "running"),
        ("20261128T060000Z-0003", "failed"),
    ]
    assert document["runs"][1]["reason"] == "exit 7"


def test_a_job_that_never_ran(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    with JobLock(state_dir, "docs"):
        result = cli(["history", "newcomer", "-p", str(plan)])
    assert (result.code, result.out) == (0, "newcomer has not run yet.\n")


def test_an_unknown_job_suggests_the_nearest(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    with JobLock(state_dir, "docs"):
        result = cli(["history", "fotos", "-p", str(plan)])
        other = cli(["history", "zzz", "-p", str(plan)])
    assert result.code == 2
    assert "no job 'fotos' in the plan or the journal; did you mean 'photos'?" in result.err
    assert "known jobs: archive, docs, music, newcomer, old, photos" in other.err
