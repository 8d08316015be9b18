"""The command line: version, help with examples, exit codes, crash reports, interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backupplan import __version__
from backupplan.cli import cli as command
from tests.conftest import backupplan_env


def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["--version"])
    assert (result.code, result.out) == (0, f"backupplan {__version__}\n")


def test_every_command_has_help_with_examples(cli) -> None:  # type: ignore[no-untyped-def]
    for name in command.commands:  # type: ignore[attr-defined]
        result = cli([name, "--help"])
        assert result.code == 0, name
        assert "Usage: backupplan " + name in result.out
        assert "Example" in result.out or "backupplan " + name in result.out.split("Usage:", 1)[1], name


def test_top_level_help_lists_exit_codes(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["--help"])
    assert result.code == 0
    assert "Exit codes: 0 ok, 1 a job failed or the plan is invalid, 2 usage error" in result.out


def test_usage_error_is_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["validate", "--no-such-flag"])
    assert result.code == 2
    assert "No such option '--no-such-flag'" in result.err


def test_unknown_command_is_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli(["frobnicate"]).code == 2


def test_internal_error_is_exit_3_with_crash_report(cli, monkeypatch, _isolated_home: Path) -> None:  # type: ignore[no-untyped-def]
    from backupplan.commands import validate

    def broken(path: str, **options: object) -> int:
        raise RuntimeError("boom with secret CANARY-crash-value")

    monkeypatch.setattr(validate, "validate_command", broken)
    from backupplan.secrets import registry

    registry.add("CANARY-crash-value", "CRASH_SECRET")
    result = cli(["validate"])
    assert result.code == 3
    assert result.err.startswith(
        "backupplan: internal error: RuntimeError: boom with secret ${CRASH_SECRET} "
    )
    report = Path(result.err.split("crash report: ")[1].split(";")[0])
    assert report.parent == _isolated_home / ".local/state/backupplan/crash"
    assert report.stat().st_mode & 0o777 == 0o600
    text = report.read_text()
    assert "Traceback" in text and "RuntimeError" in text
    assert "CANARY-crash-value" not in text


def test_init_refuses_to_overwrite(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "backups.yaml"
    target.write_text("mine\n")
    result = cli(["init", str(target)])
    assert result.code == 1
    assert result.err == f"backupplan: {target} already exists; pass --force to overwrite it\n"
    assert target.read_text() == "mine\n"
    assert cli(["init", str(target), "--force"]).code == 0
    assert target.read_text().startswith("# backupplan plan")


def test_python_dash_m_and_interrupt_is_130(tmp_path: Path) -> None:
    """Ctrl-C while backupplan waits (here: reading a plan from a FIFO nobody writes) exits 130."""
    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, "-m", "backupplan", "validate", str(fifo)],
        env=backupplan_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # let it import and block on the FIFO
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 130, err
    assert err.strip().endswith("backupplan: interrupted")
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_console_script_runs(args: list[str]) -> None:
    script = Path(sys.executable).parent / "backupplan"
    if not script.exists():
        pytest.skip("backupplan is not installed in this environment")
    result = subprocess.run([str(script), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0
