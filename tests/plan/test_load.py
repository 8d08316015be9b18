"""Loading plans: defaults merging, ${VAR} secrets, resolved paths, file-level errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backupplan.errors import PlanError
from backupplan.plan.load import load_plan
from backupplan.plan.sections import merge_defaults
from backupplan.secrets import mask, registry
from tests.conftest import backupplan_env

MINIMAL = """\
version: 1
jobs:
  photos:
    engine: rsync
    source: ~/Pictures
    destination: backup/photos
"""


def write(tmp_path: Path, text: str, name: str = "backups.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(PlanError) as raised:
        load_plan(path, **kwargs)  # type: ignore[arg-type]
    return [problem.render() for problem in raised.value.problems]


def test_minimal_plan_resolves_paths_and_inherits_settings(tmp_path: Path) -> None:
    loaded = load_plan(write(tmp_path, MINIMAL))
    job = loaded.jobs["photos"]
    assert loaded.state_dir == tmp_path / ".backupplan"
    assert loaded.site_dir == tmp_path / "site"
    assert job.bandwidth == 0
    assert job.timeout == 86400
    assert job.retries is not None and job.retries.attempts == 3
    assert job.missed == "run_once" and job.verify == "none" and job.enabled
    assert loaded.digest.startswith("sha256:") and len(loaded.digest) == 71


def test_defaults_merge_under_jobs(tmp_path: Path) -> None:
    text = """\
version: 1
defaults:
  engine: rsync
  schedule: "@daily"
  exclude: ["*.tmp"]
  hooks: {before: [[/bin/true]], after: [[sync]]}
  retries: {attempts: 5}
jobs:
  a: {source: /data/a, destination: /backup/a}
  b:
    source: /data/b
    destination: /backup/b
    exclude: ["*.iso"]
    hooks: {after: [[/bin/false]]}
    schedule: null
"""
    loaded = load_plan(write(tmp_path, text))
    a, b = loaded.jobs["a"], loaded.jobs["b"]
    assert a.schedule == "@daily" and b.schedule is None
    assert a.exclude == ["*.tmp"] and b.exclude == ["*.iso"]  # lists are replaced, not appended
    assert [hook.argv for hook in b.hooks.before] == [["/bin/true"]]  # mappings merge key by key
    assert [hook.argv for hook in b.hooks.after] == [["/bin/false"]]
    assert a.retries is not None and a.retries.attempts == 5 and a.retries.backoff == 30


def test_merge_defaults_is_deep_for_mappings_only() -> None:
    merged = merge_defaults({"a": {"x": 1, "y": 2}, "l": [1], "s": 1}, {"a": {"y": 3}, "l": [2]})
    assert merged == {"a": {"x": 1, "y": 3}, "l": [2], "s": 1}


def test_environment_values_are_secret_and_masked(tmp_path: Path) -> None:
    text = (
        MINIMAL + "    env:\n      RSYNC_PASSWORD: ${NAS_PASSWORD}\n    description: ${DESC:-plain default}\n"
    )
    loaded = load_plan(write(tmp_path, text), environ={"NAS_PASSWORD": "hunter2-canary"})
    assert loaded.jobs["photos"].env == {"RSYNC_PASSWORD": "hunter2-canary"}
    assert loaded.jobs["photos"].description == "plain default"
    assert "hunter2-canary" in registry.values()
    assert mask("password is hunter2-canary") == "password is ${NAS_PASSWORD}"
    normalized = loaded.normalized()
    assert normalized["jobs"]["photos"]["env"] == {"RSYNC_PASSWORD": "${NAS_PASSWORD}"}
    assert "hunter2-canary" not in str(normalized)


def test_literal_dollar_brace(tmp_path: Path) -> None:
    loaded = load_plan(write(tmp_path, MINIMAL + "    description: costs $${PRICE}\n"), environ={})
    assert loaded.jobs["photos"].description == "costs ${PRICE}"


def test_digest_ignores_formatting_but_not_content(tmp_path: Path) -> None:
    first = load_plan(write(tmp_path, MINIMAL, "a.yaml")).digest
    reformatted = MINIMAL.replace("photos:\n", "photos:   # a comment\n")
    assert load_plan(write(tmp_path, reformatted, "b.yaml")).digest == first
    changed = MINIMAL.replace("backup/photos", "backup/pics")
    assert load_plan(write(tmp_path, changed, "c.yaml")).digest != first


def test_yaml_12_booleans_and_numbers(tmp_path: Path) -> None:
    loaded = load_plan(write(tmp_path, MINIMAL + "    delete: yes\n    enabled: off\n"))
    assert loaded.jobs["photos"].delete is True and loaded.jobs["photos"].enabled is False


def test_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.yaml") == [
        f"{tmp_path}/nope.yaml: no such file (create one with `backupplan init`, or pass the plan's path)"
    ]


def test_directory(tmp_path: Path) -> None:
    assert problems(tmp_path) == [
        f"{tmp_path}: is a directory, not a plan file (pass the file, e.g. {tmp_path}/backups.yaml)"
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\n# caf\xe9\n")
    assert problems(path) == [f"{path}: is not UTF-8 text (byte 0xe9 on line 2) (save the file as UTF-8)"]


def test_unreadable_file(tmp_path: Path, as_nobody: list[str]) -> None:
    path = write(tmp_path, MINIMAL)
    path.chmod(0o000)
    tmp_path.chmod(0o755)
    result = subprocess.run(
        [*as_nobody, "--", sys.executable, "-m", "backupplan", "validate", str(path)],
        capture_output=True,
        text=True,
        env=backupplan_env({"HOME": "/tmp", "XDG_STATE_HOME": "/tmp"}),
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"{path}: cannot be read: permission denied (check the file's owner and mode, or run as its owner)"
    )


def test_every_problem_is_sorted_by_position(tmp_path: Path) -> None:
    text = "version: 1\njobs:\n  b: {engine: nope, source: /x, destination: /y}\n  a: {engine: rsync}\n"
    rendered = problems(write(tmp_path, text))
    assert [line.split(":")[1] for line in rendered] == ["3", "4", "4"]


@pytest.mark.parametrize("umask", [0o022])
def test_init_then_validate(tmp_path: Path, cli, umask: int) -> None:  # type: ignore[no-untyped-def]
    old = os.umask(umask)
    try:
        target = tmp_path / "new" / "backups.yaml"
        assert cli(["init", str(target)]).code == 0
        result = cli(["validate", str(target)])
    finally:
        os.umask(old)
    assert result.code == 0
    assert result.out == f"{target}: valid (1 job; 1 scheduled; 0 manual; engines: rsync)\n"
