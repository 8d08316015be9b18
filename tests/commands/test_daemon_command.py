"""`backupplan daemon` as a real process, for a few seconds each: schedules, max_parallel, overlaps,
SIGHUP with a broken plan, one daemon per state dir, kill -9 mid-run and SIGTERM mid-run."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import backupplan_env
from tests.procs import processes_mentioning
from tests.trees import build

pytestmark = pytest.mark.slow


class DaemonProcess:
    """`backupplan daemon -p PLAN` in its own session, output in a file."""

    def __init__(self, plan: Path, name: str = "daemon") -> None:
        self.plan = plan
        self.log_path = plan.parent / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backupplan", "daemon", "-p", str(plan)],
            env=backupplan_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def send(self, number: int) -> None:
        self.process.send_signal(number)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(plan: Path, name: str = "daemon") -> DaemonProcess:
        started.append(DaemonProcess(plan, name))
        return started[-1]

    yield start
    for daemon in started:
        daemon.close()


def records(root: Path, kind: str | None = None) -> list[dict[str, Any]]:
    path = root / ".backupplan" / "journal.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    found = [json.loads(line) for line in lines if line.endswith("}")]
    return [record for record in found if kind is None or record["type"] == kind]


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def at(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["ts"])


def plan_text(jobs: str, settings: str = "") -> str:
    return f"version: 1\nsettings:\n  timezone: UTC\n  stop_grace: 2s\n{settings}jobs:\n{jobs}"


def job(name: str, schedule: str, extra: str = "") -> str:
    return (
        f"  {name}:\n    engine: rsync\n    source: src\n    destination: dst/{name}\n"
        f'    schedule: "{schedule}"\n{extra}'
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build(tmp_path / "src", {b"a.txt": b"alpha\n", b"sub/b.txt": b"beta\n"})
    (tmp_path / "dst").mkdir()
    return tmp_path


def test_an_every_2s_job_runs_on_its_slots_until_sigterm(root: Path, daemons) -> None:  # type: ignore[no-untyped-def]
    plan = root / "backups.yaml"
    plan.write_text(plan_text(job("quick", "every 2s")))
    daemon = daemons(plan)
    wait_until(lambda: len(records(root, "run.finished")) >= 3, what="three runs")
    daemon.send(signal.SIGTERM)
    assert daemon.wait(timeout=10) == 0
    started = records(root, "run.started")
    assert started[0]["data"]["trigger"] == "apply"  # never run: due at once
    scheduled = [record for record in started if record["data"]["trigger"] == "schedule"]
    assert len(scheduled) >= 2
    slots = [datetime.fromisoformat(record["data"]["slot"]) for record in scheduled]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(slots)]
    assert gaps == [2.0] * (len(slots) - 1)
    for record, slot in zip(scheduled, slots, strict=True):
        assert 0 <= (at(record) - slot).total_seconds() < 1.0  # started within a second of its slot
    assert [record["data"]["status"] for record in records(root, "run.finished")] == ["succeeded"] * len(
        records(root, "run.finished")
    )
    assert records(root, "daemon.stopped")[0]["data"]["reason"] == "SIGTERM"
    assert "backupplan daemon stopped" in daemon.output
    assert processes_mentioning(str(root / "dst")) == []


def test_max_parallel_holds_across_jobs(root: Path, daemons) -> None:  # type: ignore[no-untyped-def]
    slow = "    hooks: {before: [[sleep, '0.5']]}\n"
    plan = root / "backups.yaml"
    plan.write_text(
        plan_text(
            job("a", "every 2s", slow) + job("b", "every 2s", slow) + job("c", "every 2s", slow),
            settings="  max_parallel: 1\n",
        )
    )
    daemon = daemons(plan)
    wait_until(lambda: len(records(root, "run.finished")) >= 6, timeout=20, what="six runs")
    daemon.send(signal.SIGTERM)
    assert daemon.wait(timeout=10) == 0
    spans: dict[str, list[datetime]] = {}
    for record in records(root):
        if record["type"] in ("run.started", "run.finished", "run.interrupted"):
            spans.setdefault(record["run"], []).append(at(record))
    ordered = sorted(spans.values())
    for earlier, later in itertools.pairwise(ordered):
        assert later[0] >= earlier[-1], "two runs overlapped although max_parallel is 1"
    assert {record["job"] for record in records(root, "run.finished")} == {"a", "b", "c"}


def test_a_run_longer_than_its_interval_is_journaled_as_overlap(root: Path, daemons) -> None:  # type: ignore[no-untyped-def]
    plan = root / "backups.yaml"
    plan.write_text(plan_text(job("long", "every 2s", "    hooks: {before: [[sleep, '3']]}\n")))
    daemon = daemons(plan)
    wait_until(lambda: len(records(root, "run.skipped")) >= 2, timeout=20, what="two overlaps")
    daemon.send(signal.SIGTERM)
    assert daemon.wait(timeout=15) == 0
    skipped = records(root, "run.skipped")
    assert {record["data"]["reason"] for record in skipped} == {"overlap"}
    assert all(record["data"]["slot"] for record in skipped)
    started = [at(record) for record in records(root, "run.started")]
    finished = [
        at(record) for record in records(root) if record["type"] in ("run.finished", "run.interrupted")
    ]
    for start, end in zip(started[1:], finished, strict=False):
        assert start >= end  # one instance at a time


def test_sighup_with_a_broken_plan_keeps_the_old_one(root: Path, daemons) -> None:  # type: ignore[no-untyped-def]
    plan = root / "backups.yaml"
    plan.write_text(plan_text(job("quick", "every 2s")))
    daemon = daemons(plan)
    wait_until(lambda: records(root, "run.finished"), what="a first run")
    good = plan.read_text()
    plan.write_text(good.replace("schedule:", "schedual:"))
    daemon.send(signal.SIGHUP)
    rejected = wait_until(lambda: records(root, "plan.rejected"), what="the rejection")
    seq = rejected[0]["seq"]
    wait_until(lambda: [r for r in records(root, "run.started") if r["seq"] > seq], what="a run after it")
    daemon.send(signal.SIGTERM)
    assert daemon.wait(timeout=10) == 0
    assert rejected[0]["data"]["problems"] == [
        f"{plan}:10:5: jobs.quick.schedual: unknown key 'schedual' (did you mean 'schedule'?)"
    ]
    assert "the plan was not reloaded (SIGHUP); the running plan stays in force:" in daemon.output
    assert len(records(root, "plan.applied")) == 1


def test_one_daemon_per_state_dir(root: Path, daemons, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    plan = root / "backups.yaml"
    plan.write_text(plan_text(job("quick", "@daily")))
    first = daemons(plan, "first")
    wait_until(lambda: records(root, "daemon.started"), what="the first daemon")
    second = run_backupplan(["daemon", "-p", str(plan)], timeout=30)
    assert second.returncode == 1
    assert second.stderr.startswith(
        f"backupplan: another backupplan daemon is already running for the state dir {root}/.backupplan "
        f"(pid {first.process.pid}, since "
    )
    first.process.kill()
    first.wait(timeout=10)
    third = daemons(plan, "third")  # at once: the kernel dropped the dead daemon's lock
    wait_until(lambda: len(records(root, "daemon.started")) == 2, timeout=10, what="the next daemon")
    third.send(signal.SIGTERM)
    assert third.wait(timeout=10) == 0


def big_plan(root: Path, recovery: str, bandwidth: str) -> Path:
    (root / "big").mkdir(exist_ok=True)
    big = root / "big" / "big.bin"
    if not big.exists():
        big.write_bytes(os.urandom(20 * 1024 * 1024))
    plan = root / "backups.yaml"
    plan.write_text(
        plan_text(
            "  big:\n    engine: rsync\n    source: big\n    destination: dst/big\n"
            f"    schedule: '@daily'\n    bandwidth: {bandwidth}\n",
            settings=f"  recovery: {recovery}\n",
        )
    )
    return plan


@pytest.mark.parametrize("recovery", ["resume", "pause"])
def test_kill_9_mid_run_then_restart(root: Path, daemons, recovery: str, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    plan = big_plan(root, recovery, "4MiB")
    first = daemons(plan, "first")
    wait_until(lambda: records(root, "run.child"), what="rsync to start")
    time.sleep(0.5)
    first.process.kill()
    first.wait(timeout=10)
    wait_until(
        lambda: not processes_mentioning(str(root / "dst")), timeout=2.5, what="the rsync children to die"
    )

    big_plan(root, recovery, "0")  # the restart copies at full speed
    second = daemons(plan, "second")
    if recovery == "resume":
        wait_until(lambda: records(root, "run.finished"), timeout=30, what="the resumed run")
    else:
        wait_until(lambda: records(root, "job.paused"), timeout=15, what="the job to be paused")
    second.send(signal.SIGTERM)
    assert second.wait(timeout=15) == 0

    interrupted = records(root, "run.interrupted")
    assert [record["data"]["reason"] for record in interrupted] == ["crash"]
    (handled,) = records(root, "recovery.handled")
    assert handled["run"] == interrupted[0]["run"]
    started = records(root, "run.started")
    if recovery == "resume":
        assert handled["data"]["action"] == "resumed"
        assert [record["data"]["trigger"] for record in started] == ["apply", "resume"]
        assert records(root, "run.finished")[0]["data"]["status"] == "succeeded"
        assert (root / "dst" / "big" / "big.bin").read_bytes() == (root / "big" / "big.bin").read_bytes()
    else:
        assert handled["data"]["action"] == "paused"
        assert [record["data"]["trigger"] for record in started] == ["apply"]
        listed = run_backupplan(["recover", "-p", str(plan)])
        assert f"  big  run {handled['run']}, found " in listed.stdout
        assert "the job is paused until it is resumed or recovered" in listed.stdout
    assert processes_mentioning(str(root / "dst")) == []


def test_sigterm_mid_run_stops_within_the_grace(root: Path, daemons) -> None:  # type: ignore[no-untyped-def]
    plan = big_plan(root, "resume", "2MiB")
    daemon = daemons(plan)
    wait_until(lambda: records(root, "run.child"), what="rsync to start")
    time.sleep(0.3)
    sent = time.monotonic()
    daemon.send(signal.SIGTERM)
    assert daemon.wait(timeout=15) == 0
    assert time.monotonic() - sent < 2 + 5  # stop_grace + 5 s
    (interrupted,) = records(root, "run.interrupted")
    assert interrupted["data"]["reason"] == "shutdown"
    assert processes_mentioning(str(root / "dst")) == []
    assert records(root, "daemon.stopped")

    big_plan(root, "resume", "0")
    again = daemons(plan, "again")  # the interrupted run is resumed at the next start
    wait_until(lambda: records(root, "run.finished"), timeout=30, what="the resumed run")
    again.send(signal.SIGTERM)
    assert again.wait(timeout=10) == 0
    assert [record["data"]["trigger"] for record in records(root, "run.started")] == ["apply", "resume"]
