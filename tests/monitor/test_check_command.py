"""`backupplan check` through the command line: a real plan and journal, published status files,
and every way of failing to judge ending UNKNOWN (3), never click's 2 or the usual 1."""

from __future__ import annotations

import io
import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backupplan.commands import check
from backupplan.journal import JobLock, Journal
from tests.journal.helpers import FROZEN, Clock, demo
from tests.monitor.documents import NOW, document, perfdata


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set the reader's clock of `backupplan check`: at(moment)."""

    def set_clock(moment: datetime) -> None:
        monkeypatch.setattr(check, "current_time", lambda: moment)

    return set_clock


def status_line(out: str) -> str:
    return out.splitlines()[0].partition(" | ")[0]


def test_the_demo_plan(tmp_path: Path, cli, at) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    at(FROZEN)
    with JobLock(state_dir, "docs"):  # docs' runner is alive
        result = cli(["check", "-p", str(plan)])
    assert result.code == 2, result.err
    lines = result.out.splitlines()
    assert lines[0].partition(" | ")[0] == (
        "BACKUPPLAN CRITICAL - docs overdue since 2026-11-26 17:01 UTC (1d18h); "
        "newcomer overdue since 2026-11-27 04:00 UTC (1d8h); music was interrupted by a crash (backupplan recover)"
    )
    data = perfdata(lines[0])
    assert {label: data[label] for label in ("jobs", "overdue", "interrupted", "running", "age")} == {
        "jobs": "4;;;0",
        "overdue": "2;0;;0;4",
        "interrupted": "1;0;;0;4",
        "running": "1;;;0;4",
        "age": "0s;;22080;0",  # the timers rewrite it at docs' next run (17:58) + 10 min
    }
    assert re.fullmatch(r"\d+B;\d+:;\d+:;0;\d+", data["state_free"])  # this machine's disk
    assert lines[1:] == [
        "CRITICAL: docs overdue since 2026-11-26 17:01 UTC (1d18h)",
        "CRITICAL: newcomer overdue since 2026-11-27 04:00 UTC (1d8h)",
        "WARNING: music was interrupted by a crash (backupplan recover)",
        "status of test-host written 12:00 UTC by backupplan 0.1.0, kept fresh by: timer",
    ]
    assert result.err == ""


def test_one_job_of_the_demo(tmp_path: Path, cli, at) -> None:  # type: ignore[no-untyped-def]
    plan, _ = demo(tmp_path)
    at(FROZEN)
    result = cli(["check", "-p", str(plan), "--job", "photos"])
    assert (result.code, status_line(result.out)) == (0, "BACKUPPLAN OK - 1 job on time")
    at(FROZEN + timedelta(hours=15, minutes=1))  # its deadline: 03:00 tomorrow
    result = cli(["check", "-p", str(plan), "--job", "photos"])
    assert (result.code, status_line(result.out)) == (
        1,
        "BACKUPPLAN WARNING - photos overdue since 03:00 UTC (1m00s)",
    )
    result = cli(["check", "-p", str(plan), "--job", "photos", "--late-critical", "30s"])
    assert result.code == 2


def test_a_paused_job_becomes_overdue_and_is_named_as_paused(tmp_path: Path, cli, at) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    with Journal.open(state_dir, clock=Clock(FROZEN)) as journal:
        journal.append("job.paused", job="photos", data={"by": "recovery"})
    at(FROZEN)
    result = cli(["check", "-p", str(plan), "--job", "photos"])
    assert (result.code, status_line(result.out)) == (0, "BACKUPPLAN OK - 1 job on time, 1 paused")
    assert result.out.splitlines()[1] == "photos paused since 12:00 UTC by recovery"
    at(datetime(2026, 12, 1, 9, 0, tzinfo=FROZEN.tzinfo))
    result = cli(["check", "-p", str(plan), "--job", "photos"])
    assert (result.code, status_line(result.out)) == (
        2,
        "BACKUPPLAN CRITICAL - photos paused since 2026-11-28 12:00 UTC by recovery, "
        "overdue since 2026-11-29 03:00 UTC (2d6h)",
    )


def test_the_journal_is_only_read(tmp_path: Path, cli, at) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    journal = state_dir / "journal.jsonl"
    with journal.open("ab") as handle:
        handle.write(b'{"seq": 99, "torn')  # a torn tail: a writer would cut it off
    before = {path: path.read_bytes() for path in state_dir.rglob("*") if path.is_file()}
    at(FROZEN)
    assert cli(["check", "-p", str(plan)]).code == 2  # and music's dead run is not recorded
    after = {path: path.read_bytes() for path in state_dir.rglob("*") if path.is_file()}
    assert after == before


def test_a_plan_never_applied(tmp_path: Path, cli, at) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "backups.yaml").write_text(
        "version: 1\njobs:\n  photos:\n    engine: rsync\n    source: /srv/a\n    destination: /srv/b\n"
        "    schedule: '0 2 * * *'\n"
    )
    at(NOW)
    result = cli(["check", "-p", str(tmp_path / "backups.yaml")])
    assert (result.code, status_line(result.out)) == (
        1,
        "BACKUPPLAN WARNING - the plan was never applied: its scheduled jobs do not run (backupplan apply)",
    )
    assert not (tmp_path / ".backupplan").exists()  # a check creates nothing


def test_a_state_dir_this_user_cannot_read_is_unknown(
    tmp_path: Path, cli, at, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    monkeypatch.setattr("backupplan.monitor.local.os.access", lambda path, mode: False)
    at(FROZEN)
    result = cli(["check", "-p", str(plan)])
    assert result.code == 3
    assert result.out == (
        f"BACKUPPLAN UNKNOWN - cannot read {state_dir}: permission denied; run the check as the user "
        "backupplan runs as, or judge its published status.json with --status\n"
    )


def test_an_invalid_plan_is_unknown(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = tmp_path / "backups.yaml"
    plan.write_text("version: 1\njobs: {a: {engine: rsink}, b: {engine: rsync}}\n")
    result = cli(["check", "-p", str(plan)])
    assert result.code == 3
    lines = result.out.splitlines()
    assert lines[0].startswith(f"BACKUPPLAN UNKNOWN - invalid plan: {plan}:2:")
    assert lines[0].endswith(" more problems: backupplan validate)")
    assert len(lines) > 1 and result.err == ""
    missing = cli(["check", "-p", str(tmp_path / "nothing.yaml")])
    assert missing.code == 3
    assert missing.out == (
        f"BACKUPPLAN UNKNOWN - invalid plan: {tmp_path / 'nothing.yaml'}: no such file "
        "(create one with `backupplan init`, or pass the plan's path)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-such-flag"], "No such option '--no-such-flag'."),
        (["--job"], "Option '--job' requires an argument."),
        (["photos"], "Got unexpected extra argument (photos)"),
        (["--late-critical", "soon"], "--late-critical: 'soon' is not a duration"),
        (["--space-warning", "lots"], "--space-warning: 'lots' is not a size; write a share like 10% or a size like 2GiB"),
        (["--max-age", "0"], "--max-age: '0' must be more than 0"),
        (["--timeout", "-1s"], "--timeout: '-1s' is not a duration"),
    ],
)  # fmt: skip
def test_usage_errors_are_unknown(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(["check", *args])
    assert result.code == 3
    assert result.out == f"BACKUPPLAN UNKNOWN - usage: {message} (backupplan check --help)\n"


def test_other_commands_keep_exit_2_for_usage(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli(["status", "--no-such-flag"]).code == 2


def test_a_published_status_file(tmp_path: Path, cli, at) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "status.json"
    path.write_text(json.dumps(document()))
    at(NOW)
    result = cli(["check", "--status", str(path), "-p", str(tmp_path / "no-plan-needed.yaml")])
    assert (result.code, status_line(result.out)) == (
        0,
        "BACKUPPLAN OK - 3 jobs on time, last update 40s ago",
    )
    at(NOW + timedelta(minutes=5))
    result = cli(["check", "--status", str(path)])
    assert (result.code, status_line(result.out)) == (
        2,
        "BACKUPPLAN CRITICAL - no update since 11:59 UTC — is the daemon still running on nas?",
    )


def test_the_demo_published_and_judged_elsewhere(
    tmp_path: Path, cli, at, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    """The same verdict from the plan here and from its status.json on another machine, a day on
    from when it was written: the deadlines are compared with that machine's clock."""
    from backupplan.commands.status import status_command

    plan, state_dir = demo(tmp_path)
    later = FROZEN + timedelta(days=1)
    at(later)
    with JobLock(state_dir, "docs"):
        local = cli(["check", "-p", str(plan)])
        capsys.readouterr()
        status_command(str(plan), state_dir=None, as_json=True, now=FROZEN)
    published = tmp_path / "published.json"
    published.write_text(capsys.readouterr().out)
    remote = cli(["check", "--status", str(published)])
    assert (local.code, remote.code) == (2, 2)
    stale = "no update since 2026-11-28 12:00 UTC — is the timer still running on test-host?"
    assert remote.out.splitlines()[1:4] == [f"CRITICAL: {stale}", *local.out.splitlines()[1:3]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not JSON: "),
        (
            '{"format": 2, "jobs": []}',
            "status format 2 is newer than this backupplan reads (1): upgrade it here",
        ),
        ('{"jobs": []}', 'not a backupplan status document: no "format"'),
    ],
)
def test_a_status_file_that_cannot_be_judged_is_unknown(
    tmp_path: Path, cli, content: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "status.json"
    path.write_text(content)
    result = cli(["check", "--status", str(path)])
    assert result.code == 3
    assert result.out.startswith("BACKUPPLAN UNKNOWN - ") and message in result.out
    assert len(result.out.splitlines()) == 1


def test_status_from_stdin(cli, at, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(document()).encode())))
    at(NOW)
    result = cli(["check", "--status", "-", "--job", "photos"])
    assert (result.code, status_line(result.out)) == (0, "BACKUPPLAN OK - 1 job on time, last update 40s ago")


def test_credentials_in_a_status_url_are_never_printed(cli) -> None:  # type: ignore[no-untyped-def]
    from tests.servers import free_port

    port = free_port()
    result = cli(
        ["check", "--status", f"https://monitor:Pa55-w0rd@127.0.0.1:{port}/status.json", "--timeout", "2s"]
    )
    assert result.code == 3
    assert (
        result.out
        == f"BACKUPPLAN UNKNOWN - cannot reach https://***@127.0.0.1:{port}/status.json: Connection refused\n"
    )
    assert "Pa55-w0rd" not in result.out + result.err


def test_an_internal_error_still_gives_a_status_line(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("backupplan.monitor.judge.judge", broken)
    path = tmp_path / "status.json"
    path.write_text(json.dumps(document()))
    result = cli(["check", "--status", str(path)])
    assert result.code == 3
    assert (
        result.out
        == "BACKUPPLAN UNKNOWN - internal error in backupplan check (see its crash report on stderr)\n"
    )
    assert result.err.startswith("backupplan: internal error: RuntimeError: boom (crash report: ")


def test_a_real_process_exits_with_the_state(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "status.json"
    path.write_text(json.dumps(document(generated_at="2020-01-01T00:00:00Z", freshness=None)))
    probe = (
        "import sys; from backupplan.cli.exits import run_cli; from backupplan.cli import cli; "
        "code = run_cli(cli, sys.argv[1:]); "
        "print(sorted(m for m in ('pydantic', 'ruamel.yaml', 'jinja2', 'apscheduler', 'backupplan.plan', "
        "'backupplan.journal', 'urllib.request') if m in sys.modules)); sys.exit(code)"
    )
    import subprocess

    from tests.conftest import backupplan_env

    done = subprocess.run(
        [sys.executable, "-c", probe, "check", "--status", str(path), "--max-age", "1d"],
        env=backupplan_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines()[0].startswith("BACKUPPLAN CRITICAL - status is ")
    assert done.stdout.splitlines()[-1] == "[]"  # --status FILE loads no plan models, YAML or journal
    usage = run_backupplan(["check", "--bogus"])
    assert (usage.returncode, usage.stdout) == (
        3,
        "BACKUPPLAN UNKNOWN - usage: No such option '--bogus'. (backupplan check --help)\n",
    )
