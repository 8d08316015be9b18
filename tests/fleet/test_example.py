"""examples/fleet: one plan for three machines and the Ansible playbook that deploys it. The plan
validates for each machine and gives each the jobs its comments promise; the playbook passes
`ansible-playbook --syntax-check` and `ansible-lint` (production profile, offline)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backupplan.plan.load import load_plan

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "fleet"
PLAN = EXAMPLE / "backups.yaml"
VENV_BIN = Path(sys.executable).parent

JOBS = {
    "laptop": ["config", "home"],
    "nas": ["config", "photos", "photos-offsite"],
    "vps": ["config", "vps-etc", "vps-www"],
}
ALL_JOBS = {job for jobs in JOBS.values() for job in jobs}


def variables() -> set[str]:
    """The names of the plan's ${VAR}s (not those its comments mention)."""
    values = "\n".join(line.partition("#")[0] for line in PLAN.read_text().splitlines())
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", values))


def set_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every ${VAR} of the plan a placeholder value, as secrets.env does on the machines."""
    for name in variables():
        monkeypatch.setenv(name, f"placeholder-{name.lower()}")


@pytest.mark.parametrize(("host", "jobs"), JOBS.items())
def test_each_machine_validates_without_secrets_and_gets_its_jobs(
    host: str, jobs: list[str], monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.setenv("BACKUPPLAN_HOST", host)
    result = cli(["validate", "--no-env", str(PLAN)])
    assert result.code == 0, result.err
    assert "warning:" not in result.out + result.err
    assert f"{PLAN}: valid ({len(jobs)} jobs;" in result.out
    assert f"acting as host {host}: {len(jobs)} of {len(ALL_JOBS)} jobs run here" in result.out
    loaded = load_plan(PLAN, without_env=True)
    assert loaded.host == host
    assert list(loaded.jobs) == jobs
    assert sorted(loaded.elsewhere) == sorted(ALL_JOBS - set(jobs))
    assert loaded.warnings == ()
    # the header of the plan and the README say which machine runs what: they must stay true
    assert f"#   {host:<8}{', '.join(jobs)}\n" in PLAN.read_text()
    assert f"| {host} | {', '.join(f'`{job}`' for job in jobs)} |" in (EXAMPLE / "README.md").read_text()


def test_the_plan_validates_with_its_secrets_set(monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    set_every_variable(monkeypatch)
    monkeypatch.setenv("BACKUPPLAN_HOST", "vps")
    result = cli(["validate", str(PLAN)])
    assert result.code == 0, result.err
    assert "note:" not in result.out and "warning:" not in result.out
    publish = load_plan(PLAN).plan.settings.publish
    assert publish is not None and publish.site
    assert publish.to == "fleet:example-backupplan-fleet"  # README.md names it


def test_the_readme_lists_every_secret_of_the_plan() -> None:
    readme = (EXAMPLE / "README.md").read_text()
    listed = re.findall(r"^ {5}([A-Z][A-Z0-9_]*): \"…\"", readme, flags=re.MULTILINE)
    assert sorted(listed) == sorted(variables())


def test_systemd_units_for_the_nas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    set_every_variable(monkeypatch)
    result = cli(["systemd", "--plan", str(PLAN), "--host", "nas"])
    assert result.code == 0, result.err
    assert "Environment=BACKUPPLAN_HOST=nas\n" in result.out
    assert "# 0 2 * * *: photos\n" in result.out and "# 30 3 * * *: photos-offsite\n" in result.out
    assert "vps-" not in result.out and "home" not in result.out
    # the playbook installs exactly these two files from the folder it has them written to
    written = cli(["systemd", "--plan", str(PLAN), "--host", "nas", "--write-to", str(tmp_path)])
    assert written.code == 0, written.err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["backupplan.service", "backupplan.timer"]
    playbook = (EXAMPLE / "playbook.yml").read_text()
    assert "- backupplan.service\n" in playbook and "- backupplan.timer\n" in playbook


def ansible_env(tmp_path: Path) -> dict[str, str]:
    """The environment for Ansible's tools: this venv's programs first, every cache and temporary
    folder under tmp_path (HOME already is), nothing from an outer virtualenv or config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        NO_COLOR="1",
        PY_COLORS="0",
    )
    return env


def run(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=EXAMPLE,
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_playbook_passes_the_syntax_check(tmp_path: Path) -> None:
    result = run(
        [str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i", "inventory.ini", "playbook.yml"],
        tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "playbook: playbook.yml" in result.stdout
    assert "[WARNING]" not in output, output  # e.g. a play for a group the inventory lacks


def test_the_playbook_passes_ansible_lint(tmp_path: Path) -> None:
    before = sorted(path.name for path in EXAMPLE.iterdir())
    result = run([str(VENV_BIN / "ansible-lint"), "--offline", "--nocolor"], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 failure(s), 0 warning(s)" in output, output
    assert "Profile 'production' was required, and it passed" in output, output  # .ansible-lint was read
    assert sorted(path.name for path in EXAMPLE.iterdir()) == before  # no cache left in the example
