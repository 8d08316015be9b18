"""Validating where the secrets are not (CI, pre-commit): `validate --no-env`, the plans in
examples/ that reference secrets, a value that needs its variable to be checked, a secret that
would reach a command line; and the real pre-commit running the repository's hook."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


def test_the_example_plans_validate_without_their_secrets(cli) -> None:  # type: ignore[no-untyped-def]
    plans = sorted(str(path) for path in (REPO / "examples" / "plans").glob("*.yaml"))
    strict = cli(["validate", *plans])
    assert strict.code == 1 and "is not set" in strict.err
    lenient = cli(["validate", "--no-env", *plans])
    assert lenient.code == 0, lenient.err
    assert "note: " in lenient.out and "${S3_SECRET_KEY}" in lenient.out
    assert lenient.out.count(": valid (") == len(plans)


def test_a_value_that_needs_its_variable_is_a_note(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = tmp_path / "backups.yaml"
    plan.write_text(
        "version: 1\njobs:\n  a:\n    engine: rsync\n    source: /srv/a\n    destination: /mnt/b\n"
        "    bandwidth: ${LIMIT}\n    timeout: ${TIMEOUT:-2h}\n    retries: {attempts: '${TRIES:-x}'}\n"
    )
    result = cli(["validate", "--no-env", str(plan)])
    assert result.code == 1  # a default is checked by type: x is not a number
    assert "jobs.a.retries.attempts" in result.err
    assert "bandwidth" not in result.err
    plan.write_text(plan.read_text().replace("${TRIES:-x}", "${TRIES:-3}"))
    result = cli(["validate", "--no-env", str(plan)])
    assert result.code == 0, result.err
    assert "jobs.a.bandwidth: not checked without the environment: ${LIMIT} not set" in result.out


def test_a_secret_that_would_reach_a_command_line_is_reported(tmp_path: Path, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plan = tmp_path / "backups.yaml"
    plan.write_text(
        "version: 1\njobs:\n  a:\n    engine: rsync\n    source: /srv/a\n    destination: /mnt/b\n"
        "    hooks:\n      before: [[curl, 'https://hc.example/${TOKEN}']]\n"
        "      after: [{shell: 'curl https://hc.example/$TOKEN'}]\n    env: {TOKEN: '${TOKEN}'}\n"
    )
    for args in (["validate", "--no-env", str(plan)], ["validate", str(plan)]):
        monkeypatch.setenv("TOKEN", "CANARY-token")
        result = cli(args)
        assert result.code == 1
        assert "jobs.a.hooks.before[0].argv[1]: its command line would show a secret" in result.err
        assert "hooks.after" not in result.err  # through env, read by the shell: fine
        assert "CANARY" not in result.err + result.out
        monkeypatch.delenv("TOKEN")


@pytest.mark.slow
def test_the_real_pre_commit_runs_the_hook(tmp_path: Path) -> None:
    """pre-commit's try-repo builds the hook from this repository (its own virtualenv, pip) and
    runs it on a throwaway git repository with a good and a bad plan."""
    pre_commit = shutil.which("pre-commit") or str(Path(os.sys.executable).parent / "pre-commit")
    work = tmp_path / "plans"
    work.mkdir()
    (work / "backups.yaml").write_text(
        "version: 1\njobs:\n  a: {engine: rsync, source: /srv/a, destination: /mnt/b, env: {K: '${KEY}'}}\n"
    )
    (work / "nas.backupplan.yaml").write_text("version: 1\njobs:\n  a: {engine: rsync, source: /srv/a}\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_CONFIG_GLOBAL": "/dev/null"}
    env.pop("KEY", None)
    for command in (["git", "init", "-q"], ["git", "add", "."]):
        subprocess.run(command, cwd=work, check=True, env=env)
    result = subprocess.run(
        [pre_commit, "try-repo", str(REPO), "backupplan-validate", "--all-files"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nas.backupplan.yaml:3:" in result.stdout and "destination" in result.stdout
    assert (
        "backups.yaml: valid (1 job" in result.stdout
        or "backups.yaml" not in result.stdout.split("problem")[0]
    )
