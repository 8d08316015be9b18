"""systemd and cron output: conversions checked against systemd's own calendar parser."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backupplan.plan.schedule import parse_schedule
from backupplan.scheduler.timers import ConversionError, to_cron, to_on_calendar

BASE = datetime(2026, 1, 1, tzinfo=UTC)
SCHEDULES = [
    "0 2 * * *",
    "*/15 * * * *",
    "30 1 * * 1-5",
    "0 0 1 * *",
    "5 4 * * 0",
    "0 8,20 * * *",
    "0 9-17 * * 1",
    "@daily",
    "@weekly",
    "@monthly",
    "@hourly",
    "every 6h",
    "every 15m",
    "every 1h",
]


def systemd_next(calendar: str, count: int) -> list[datetime]:
    output = subprocess.run(
        [
            "systemd-analyze",
            "calendar",
            f"--iterations={count}",
            "--base-time=2026-01-01 00:00:00 UTC",
            calendar,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    ).stdout
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", output)
    return [datetime.fromisoformat(text).replace(tzinfo=UTC) for text in found]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_on_calendar_fires_when_the_plan_does(schedule: str) -> None:
    expected = parse_schedule(to_cron(schedule), UTC).next_runs(UTC, BASE - (BASE - BASE), 6)
    assert systemd_next(to_on_calendar(schedule), 6) == expected


@pytest.mark.parametrize("schedule", ["every 7m", "every 5h", "every 2d"])
def test_intervals_that_do_not_divide_are_refused(schedule: str) -> None:
    with pytest.raises(ConversionError):
        to_cron(schedule)


def test_day_of_month_and_weekday_together_are_refused() -> None:
    with pytest.raises(ConversionError):
        to_on_calendar("0 2 1 * 1")


def write_plan(tmp_path: Path) -> Path:
    plan = tmp_path / "backups.yaml"
    plan.write_text(
        "version: 1\nsettings: {timezone: Europe/Berlin}\njobs:\n"
        "  a: {engine: rsync, source: /a, destination: /b, schedule: '0 2 * * *'}\n"
        "  b: {engine: rsync, source: /c, destination: /d, schedule: '0 2 * * *'}\n"
        "  c: {engine: rsync, source: /e, destination: /f, schedule: every 7m}\n"
        "  d: {engine: rsync, source: /g, destination: /h}\n"
    )
    return plan


def test_cron_command(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(tmp_path)
    result = cli(["cron", "--plan", str(plan)])
    assert result.code == 0
    lines = result.out.splitlines()
    assert "CRON_TZ=Europe/Berlin" in lines
    jobs_lines = [line for line in lines if line.startswith("0 2 * * * ")]
    assert len(jobs_lines) == 1 and jobs_lines[0].endswith(">/dev/null 2>&1  # a, b")
    assert f"apply --plan {plan}" in jobs_lines[0]
    assert any(line.startswith("# every 7m (c): ") for line in lines)


def test_systemd_command_writes_units(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(tmp_path)
    result = cli(["systemd", "--plan", str(plan), "--write-to", str(tmp_path / "units")])
    assert result.code == 0
    timer = (tmp_path / "units" / "backupplan.timer").read_text()
    assert "OnCalendar=*-*-* 2:0:00\n" in timer
    service = (tmp_path / "units" / "backupplan.service").read_text()
    assert f"apply --plan {plan}" in service and "Type=oneshot" in service
    daemon = cli(["systemd", "--plan", str(plan), "--daemon"])
    assert "daemon --plan" in daemon.out and "ExecReload=/bin/kill -HUP $MAINPID" in daemon.out


def test_the_printed_commands_run_apply(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """What cron and systemd would start works: `apply` runs the due job and records the plan."""
    import json
    import os

    from tests.conftest import backupplan_env

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("alpha\n")
    (tmp_path / "dst").mkdir()
    plan = tmp_path / "backups.yaml"
    plan.write_text(
        "version: 1\nsettings: {timezone: UTC}\njobs:\n"
        "  a: {engine: rsync, source: src, destination: dst/a, schedule: '0 2 * * *'}\n"
    )
    line = next(
        line for line in cli(["cron", "--plan", str(plan)]).out.splitlines() if line.startswith("0 2 ")
    )
    command = line.split(" ", 5)[5].split("  # ")[0]
    env = {**backupplan_env(), "PATH": "/usr/bin:/bin"}  # cron's own PATH
    assert subprocess.run(["sh", "-c", command], env=env, check=False).returncode == 0
    assert (tmp_path / "dst" / "a" / "a.txt").read_text() == "alpha\n"

    units = cli(["systemd", "--plan", str(plan)]).out
    assert "AccuracySec=1s\n" in units and "Persistent=true\n" in units
    exec_start = next(line for line in units.splitlines() if line.startswith("ExecStart="))
    result = subprocess.run(
        ["sh", "-c", exec_start.removeprefix("ExecStart=")],
        env=env,
        cwd=os.sep,
        check=False,
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout) == (0, "No changes. Nothing is due.\n")
    journal = (tmp_path / ".backupplan" / "journal.jsonl").read_text().splitlines()
    assert [json.loads(record)["type"] for record in journal].count("plan.applied") == 1
