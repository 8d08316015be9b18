"""The plan cache (backupplan.plan.cache): a copy of the validated plan read instead of parsing and
validating again, never trusted over the file, never holding a value from the environment."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backupplan.errors import PlanError
from backupplan.plan import cache
from backupplan.plan.load import load_plan
from backupplan.plan.loaded import LoadedPlan
from backupplan.secrets import registry
from tests.conftest import backupplan_env

ROOT = Path(__file__).resolve().parents[2]

PLAN = """\
version: 1
settings:
  timezone: Europe/Berlin
  fleet: {hosts: [test-host, box]}
jobs:
  photos:
    engine: rsync
    source: ~/Pictures
    destination: backup/photos
    schedule: "0 3 * * *"
    snapshots: {keep: {last: 3}}
  music:
    hosts: [box]
    engine: rclone
    source: /srv/music
    destination: remote:music
"""


def write(tmp_path: Path, text: str = PLAN) -> Path:
    path = tmp_path / "backups.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def read_back(path: Path, display: str | None = None, text: str = PLAN) -> LoadedPlan | None:
    """What the cache gives for the plan at `path` with this text, named `display` (else the path)."""
    return cache.read(path.absolute(), display or str(path), cache.key(path.absolute(), text))


def twice(probe: str, plan: Path) -> tuple[str, str]:
    """What `probe` (Python, given the plan's path) prints in a new process, run twice: the first
    loads the plan and keeps it, the second finds it kept."""
    first, second = (
        subprocess.run(
            [sys.executable, "-c", probe, str(plan)],
            capture_output=True,
            text=True,
            env=backupplan_env(),
            check=True,
        ).stdout
        for _ in range(2)
    )
    return first, second


def kept_files() -> list[Path]:
    return sorted(cache.folder().glob("*.pickle")) if cache.folder().is_dir() else []


def test_the_copy_read_back_is_the_plan_validated(tmp_path: Path) -> None:
    path = write(tmp_path)
    built = load_plan(path)
    [kept] = kept_files()
    assert kept.stat().st_mode & 0o777 == 0o600
    assert kept.parent.stat().st_mode & 0o777 == 0o700
    read = read_back(path, text=path.read_text())
    assert read is not None and read is not built
    assert read.plan == built.plan
    assert (read.digest, read.normalized(), read.default_settings()) == (
        built.digest,
        built.normalized(),
        built.default_settings(),
    )
    assert (read.host, read.elsewhere, read.timezone, read.state_dir) == (
        "test-host",
        ("music",),
        built.timezone,
        tmp_path / ".backupplan",
    )


@pytest.mark.parametrize("name", ["backups.yaml", "examples/plans/laptop-usb.yaml"])
def test_a_command_on_an_unchanged_plan_neither_parses_nor_validates(name: str, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    shutil.copy(ROOT / name, plan)
    probe = (
        "import sys; from backupplan.plan.load import load_plan; loaded = load_plan(sys.argv[1]); "
        "print(sorted(loaded.jobs), *(m in sys.modules for m in "
        "('ruamel.yaml', 'backupplan.plan.build', 'apscheduler', 'pydantic_core._pydantic_core')))"
    )
    runs = [output.split("]") for output in twice(probe, plan)]
    assert runs[0][0] == runs[1][0]  # the same jobs
    assert runs[0][1].split() == ["True", "True", "True", "True"]  # built: parsed and validated
    # read back: no YAML parser, no validation, no cron parser; pydantic's classes only
    assert runs[1][1].split() == ["False", "False", "False", "True"]


def test_the_facts_of_a_kept_plan_are_read_without_the_model(tmp_path: Path) -> None:
    path = write(tmp_path)
    probe = (
        "import sys; from backupplan.plan.load import load_facts; facts = load_facts(sys.argv[1]); "
        "print(facts.state_dir, sorted(facts.jobs), facts.timezone, facts.keep_runs, "
        "'pydantic' in sys.modules, 'ruamel.yaml' in sys.modules)"
    )
    runs = [output.split() for output in twice(probe, path)]
    expected = [str(tmp_path / ".backupplan"), "['photos']", "Europe/Berlin", "50"]
    assert runs[0] == [*expected, "True", "True"]  # built and kept
    assert runs[1] == [*expected, "False", "False"]  # read back: neither the model nor YAML
    assert cache.read_facts(path.absolute(), cache.key(path.absolute(), PLAN)) == load_plan(path).facts()


@pytest.mark.parametrize("hosts", ["[box]", "[bxo]"], ids=["clean", "with-a-warning"])
def test_validate_says_the_same_from_the_cache(hosts: str, tmp_path: Path) -> None:
    path = write(tmp_path, PLAN.replace("hosts: [box]", f"hosts: {hosts}"))
    probe = (
        "import sys; from backupplan.commands.validate import validate_command; "
        "validate_command(sys.argv[1]); print('pydantic' in sys.modules)"
    )
    runs = [output.splitlines() for output in twice(probe, path)]
    assert runs[0][:-1] == runs[1][:-1]  # the same words
    assert f"{path}: valid (1 job; 1 scheduled; 0 manual; engines: rsync)" in runs[0]
    assert "acting as host test-host: 1 of 2 jobs run here" in runs[0]
    warned = hosts == "[bxo]"
    assert any(line.startswith("warning: ") and ":13:" in line for line in runs[1]) == warned
    # a clean plan's verdict is read without the model; one with a warning is loaded to locate it
    assert runs[1][-1] == str(warned)


def test_a_changed_file_is_read_again_even_with_the_same_size_and_time(tmp_path: Path) -> None:
    path = write(tmp_path)
    load_plan(path)
    before = path.stat()
    path.write_text(PLAN.replace("0 3 * * *", "0 4 * * *"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert load_plan(path).jobs["photos"].schedule == "0 4 * * *"


def test_a_file_made_invalid_is_reported_not_served_from_the_cache(tmp_path: Path) -> None:
    path = write(tmp_path)
    load_plan(path)
    path.write_text(PLAN.replace("last: 3", "last: many"), encoding="utf-8")
    with pytest.raises(PlanError, match=r"snapshots\.keep\.last"):
        load_plan(path)


def test_the_same_plan_named_another_way_is_read_back_under_its_new_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path)
    built = load_plan(path)  # as `/…/backups.yaml`, the way a timer names it
    monkeypatch.chdir(tmp_path)
    read = read_back(path, "backups.yaml")  # as someone in the folder names it
    assert read is not None and read.display_path == "backups.yaml" and built.display_path == str(path)
    assert (read.plan, read.digest, read.normalized()) == (built.plan, built.digest, built.normalized())
    assert load_plan("backups.yaml").display_path == "backups.yaml"
    assert len(kept_files()) == 1


def test_the_host_is_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path)
    assert sorted(load_plan(path).jobs) == ["photos"]
    monkeypatch.setenv("BACKUPPLAN_HOST", "box")
    assert sorted(load_plan(path).jobs) == ["music", "photos"]
    monkeypatch.setenv("BACKUPPLAN_HOST", "test-host")
    assert sorted(load_plan(path).jobs) == ["photos"]


def test_changed_code_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    shutil.copytree(ROOT / "backupplan" / "plan", code, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_CODE", code)
    path = write(tmp_path)
    load_plan(path)
    assert read_back(path) is not None
    module = code / "model" / "job.py"
    module.write_text(module.read_text() + "\n# changed\n")
    assert read_back(path) is None


def test_a_plan_that_reads_the_environment_is_never_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-value-never-on-disk"
    monkeypatch.setenv("BOX_PASSWORD", secret)
    text = PLAN + "    env: {RCLONE_CONFIG_REMOTE_PASS: '${BOX_PASSWORD}'}\n"
    try:
        loaded = load_plan(write(tmp_path, text))
        assert loaded.plan.settings.timezone == "Europe/Berlin"
    finally:
        registry.clear()
    assert kept_files() == []
    for folder, _, files in os.walk(os.environ["HOME"]):
        for name in files:
            assert secret.encode() not in (Path(folder) / name).read_bytes(), name


@pytest.mark.parametrize(
    "spoil",
    [
        lambda path: path.write_bytes(path.read_bytes()[:-40]),  # torn
        lambda path: path.write_bytes(b"not a pickle at all"),
        lambda path: path.chmod(0o644),  # readable by others: not ours to trust
        lambda path: path.write_bytes(  # another format's header
            pickle.dumps((99, "key")) + path.read_bytes()
        ),
    ],
    ids=["torn", "garbage", "not-private", "other-format"],
)
def test_a_cache_file_that_cannot_be_trusted_is_ignored_and_replaced(tmp_path: Path, spoil: object) -> None:
    path = write(tmp_path)
    built = load_plan(path)
    [kept] = kept_files()
    spoil(kept)  # type: ignore[operator]
    assert read_back(path) is None
    assert load_plan(path).digest == built.digest
    assert read_back(path) is not None  # written again
    assert kept.stat().st_mode & 0o777 == 0o600


def test_a_cache_folder_that_cannot_be_written_costs_only_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    path = write(tmp_path)
    assert sorted(load_plan(path).jobs) == ["photos"]
    assert sorted(load_plan(path).jobs) == ["photos"]


def test_it_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUPPLAN_PLAN_CACHE", "off")
    load_plan(write(tmp_path))
    assert kept_files() == []


def test_validate_still_locates_the_warnings_of_a_plan_read_back(tmp_path: Path) -> None:
    path = write(tmp_path, PLAN.replace("hosts: [box]", "hosts: [bxo]"))
    first = load_plan(path)  # a run: warnings not located, kept like that
    assert [warning.line for warning in first.warnings] == [None]
    located = load_plan(path, locate_warnings=True)
    assert [warning.line for warning in located.warnings] == [13]  # `hosts: [bxo]`
    assert [warning.line for warning in load_plan(path).warnings] == [13]  # the located copy is kept
