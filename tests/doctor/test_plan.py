"""Each job's line in the Plan section: schedule, next run, last result; paused, failed and overdue
jobs are warnings that say what to do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from backupplan.doctor import Context, Space, diagnose
from backupplan.journal import JobLock, Journal
from tests.journal.helpers import FROZEN, Clock, run_once

PLAN = """\
version: 1
settings: {timezone: Europe/Berlin}
jobs:
  paused: {engine: rsync, source: src, destination: out/paused, schedule: "@daily"}
  broken: {engine: rsync, source: src, destination: out/broken}
  late: {engine: rsync, source: src, destination: out/late, schedule: "0 2 * * *"}
  busy: {engine: rsync, source: src, destination: out/busy, schedule: every 6h}
  fine: {engine: rsync, source: src, destination: out/fine, schedule: "30 3 * * *"}
  new: {engine: rsync, source: src, destination: out/new}
"""


def job_lines(tmp_path: Path) -> dict[str, tuple[str, str, str | None]]:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_text("a")
    (tmp_path / "out").mkdir()
    (tmp_path / "backups.yaml").write_text(PLAN)
    state_dir = tmp_path / ".backupplan"
    clock = Clock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    with Journal.open(state_dir, clock=clock) as journal:
        journal.append("plan.applied", data={"digest": "x", "path": "p", "jobs": ["paused", "late"]})
        run_once(journal, "late", "20261125T020000Z-0001", clock)
        clock.now = datetime(2026, 11, 28, 2, 30, tzinfo=UTC)
        run_once(journal, "fine", "20261128T023000Z-0002", clock)
        journal.append("job.paused", job="paused")
        clock.now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
        run_once(journal, "broken", "20261128T090000Z-0003", clock, status="failed", exit_code=23)
        clock.now = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
        journal.append("run.started", job="busy", run="20261128T110000Z-0004", data={"trigger": "schedule"})
    context = Context(now=FROZEN, space=lambda path: Space(100 * 1024**3, 50 * 1024**3))
    with JobLock(state_dir, "busy"):  # busy's run is alive
        report = diagnose(str(tmp_path / "backups.yaml"), context)
    return {
        check.name.removeprefix("job."): (check.status, check.message, check.hint)
        for check in report.checks
        if check.name.startswith("job.")
    }


def test_each_job_says_how_it_stands(tmp_path: Path) -> None:
    assert job_lines(tmp_path) == {
        "broken": (
            "warn",
            "broken: last run failed 2026-11-28 10:00 CET: exit 23",
            "`backupplan logs broken --last` shows its log",
        ),
        "busy": ("ok", "busy: rsync, schedule 'every 6h', next run 2026-11-28 18:00 CET; last run running "
                 "2026-11-28 12:00 CET", None),
        "fine": ("ok", "fine: rsync, schedule '30 3 * * *', next run 2026-11-29 03:30 CET; "
                 "last run succeeded 2026-11-28 03:30 CET", None),
        "late": (
            "warn",
            "late: rsync, schedule '0 2 * * *', next run 2026-11-29 02:00 CET; last run succeeded "
            "2026-11-25 03:00 CET; overdue: last success 2026-11-25 03:00 CET",
            "is it running? `backupplan history late` lists its runs",
        ),
        "new": ("info", "new: rsync, manual only; never run", None),
        "paused": (
            "warn",
            "paused: paused: neither the schedule nor `run` starts it",
            "`backupplan resume paused` lets it run again",
        ),
    }  # fmt: skip
