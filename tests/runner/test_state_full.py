"""A full state dir is an error, not a bug (RELIABILITY: full disk). On a real small tmpfs holding
the state dir: filled before a run and during one, `run` exits 1 with one clear message (no
traceback, no "internal error"), `status` says so and exits 1, nothing recorded is lost, and the
run is recorded once space is back."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from backupplan.errors import StateError
from backupplan.journal import Journal
from tests.mounts import fill, small_tmpfs
from tests.runner.helpers import of_type, records, start_run, write_plan
from tests.trees import big_file, build, describe

pytestmark = pytest.mark.slow


def plan_on(tmp_path: Path, state: Path, extra: str = "") -> Path:
    build(tmp_path / "src", {b"a.txt": b"alpha\n", b"b/c.txt": b"gamma\n"})
    return write_plan(
        tmp_path,
        f"  photos:\n    engine: rsync\n    source: src\n    destination: dst\n{extra}",
        settings=f"  state_dir: {state}\n",
    )


def use_up_the_journal_slack(state: Path) -> None:
    """On a full tmpfs the journal's last page still has room: fill it, as a disk filling up
    would, so that the run's next record finds no space."""
    with Journal.open(state) as journal, contextlib.suppress(StateError):
        for _ in range(1000):
            journal.append("job.note", job="filler", data={"padding": "x" * 200})


def assert_clear_failure(result_stderr: str) -> None:
    assert "Traceback" not in result_stderr
    assert "internal error" not in result_stderr
    assert "no space left on the device" in result_stderr
    assert "free)" in result_stderr and "settings.state_dir" in result_stderr


def test_filled_before_a_run(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    with small_tmpfs(tmp_path / "disk") as disk:
        state = disk / "state"
        plan = plan_on(tmp_path, state)
        assert run_backupplan(["run", "--plan", str(plan), "photos"]).returncode == 0
        before = records(state)
        filler = fill(disk)

        refused = run_backupplan(["run", "--plan", str(plan), "photos"])
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert_clear_failure(refused.stdout + refused.stderr)
        assert records(state) == before  # the journal is intact, nothing half-written

        status = run_backupplan(["status", "--plan", str(plan)])
        assert status.returncode == 1
        assert "Traceback" not in status.stderr
        assert f"State dir {state} is full" in status.stdout

        filler.unlink()
        again = run_backupplan(["run", "--plan", str(plan), "photos"])
        assert again.returncode == 0, again.stderr
        finished = of_type(state, "run.finished")
        assert [record["data"]["status"] for record in finished] == ["succeeded", "succeeded"]
        assert run_backupplan(["status", "--plan", str(plan)]).returncode == 0


def test_filled_during_a_run(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    with small_tmpfs(tmp_path / "disk") as disk:
        state = disk / "state"
        plan = plan_on(tmp_path, state, "    bandwidth: 1MiB\n")
        big_file(tmp_path / "src" / "big.bin", 3 * 1024 * 1024)  # three seconds at 1 MiB/s
        process = start_run(plan, "photos")
        deadline = time.monotonic() + 10
        while not of_type(state, "run.child") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert of_type(state, "run.child"), "the run did not start"
        filler = fill(disk)
        use_up_the_journal_slack(state)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 1, out + err
        assert_clear_failure(out + err)
        started = of_type(state, "run.started")
        assert len(started) == 1 and of_type(state, "run.finished") == []  # its end could not be recorded

        filler.unlink()
        again = run_backupplan(["run", "--plan", str(plan), "photos"])
        assert again.returncode == 0, again.stderr
        # The run whose end was lost is recorded as interrupted; the new one succeeded.
        (interrupted,) = of_type(state, "run.interrupted")
        assert interrupted["run"] == started[0]["run"]
        assert of_type(state, "run.finished")[-1]["data"]["status"] == "succeeded"
        assert describe(tmp_path / "dst") == describe(tmp_path / "src")
