"""Fixtures shared by every test: an isolated home, the CLI in-process and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backupplan.secrets import registry
from tests.receiver import receiver  # noqa: F401  (fixture: an HTTP receiver on 127.0.0.1)
from tests.servers import moto_s3, rsync_daemon, webdav  # noqa: F401  (fixtures: real servers on 127.0.0.1)
from tests.sshd import sshd  # noqa: F401  (fixture: a real OpenSSH server on 127.0.0.1)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point HOME and the XDG folders at a scratch folder: no test touches the real home; every
    process reports the host name `test-host`."""
    home = tmp_path_factory.mktemp("home")
    for name, value in {
        "HOME": home,
        "XDG_STATE_HOME": home / ".local/state",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("BACKUPPLAN_PLAN", raising=False)
    monkeypatch.setenv("BACKUPPLAN_HOST", "test-host")  # the name status documents report
    registry.clear()
    yield home
    registry.clear()


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run backupplan in this process: cli(["validate", path]) -> Result(code, out, err)."""
    from backupplan.cli import cli as command
    from backupplan.cli.exits import run_cli

    def invoke(args: list[str]) -> Result:
        capsys.readouterr()
        code = run_cli(command, args)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def backupplan_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a backupplan child process that imports this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


@pytest.fixture
def run_backupplan():  # type: ignore[no-untyped-def]
    """Run backupplan as a real process: run_backupplan(args, cwd=…, env=…, timeout=…)."""

    def invoke(
        args: list[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backupplan", *args],
            cwd=cwd,
            env=backupplan_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )

    return invoke


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def as_nobody() -> list[str]:
    """The argv prefix that runs a command as the unprivileged user `nobody` (root reads anything,
    so permission tests need it). Skips when this machine cannot: not root, no setpriv, or this
    checkout's Python lives where `nobody` may not go (e.g. a 0700 /root holding pyenv)."""
    import shutil

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    probe = subprocess.run(
        [*NOBODY, sys.executable, "-c", "import backupplan"],
        env=backupplan_env(),
        cwd="/",
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("the unprivileged user cannot run this checkout's Python here")
    return list(NOBODY)
