"""Shell completion: the scripts `backupplan completion` prints, sourced and run by the real bash, zsh
and fish, completing commands, flags, job ids from the plan and run ids from its journal."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import BashComplete

from backupplan.cli import cli
from tests.conftest import backupplan_env

PLAN = """\
version: 1
settings:
  state_dir: state
  site_dir: site
jobs:
  photos:
    description: Photos to the second disk
    engine: rsync
    source: data/photos
    destination: backup/photos
  photos-cloud:
    engine: rsync
    source: data/photos
    destination: backup/photos-cloud
  documents:
    engine: rsync
    source: data/documents
    destination: backup/documents
"""

# Every argument and option that takes a job id, as typed before the id.
JOB_PARAMETERS = [
    ["run"],
    ["run", "photos"],
    ["pause"],
    ["resume"],
    ["recover"],
    ["snapshots"],
    ["verify"],
    ["restore"],
    ["history"],
    ["changes"],
    ["logs"],
    ["check", "--job"],
    ["notify", "test"],
]

# zsh completes only inside its line editor: drive an interactive zsh in a pseudo-terminal, with
# the script installed as the README says (a file `_backupplan` in a folder on $fpath), press Tab
# after the line, and print what reaches `compadd` (which does the matching) from the script.
ZSH_SETUP = """\
PS1='' RPROMPT=''
fpath=({functions} $fpath)
autoload -Uz compinit && compinit -u -D
compadd() {{
  local -a found
  builtin compadd -O found "$@"
  print -r -- "" ${{found/#/MATCH:}}
  builtin compadd "$@"
}}
_completion_done() {{ print -r -- "" COMPLETION-DONE }}
comppostfuncs=(_completion_done)
print -r -- READY
"""
ZSH_DRIVER = """\
zmodload zsh/zpty
zpty shell zsh -f -i
zpty -w shell "source ${(q)1}"
while zpty -r shell line; do [[ $line == READY* ]] && break; done
zpty -w shell "$2"$'\\t'
while zpty -r shell line; do
  print -r -- "$line"
  [[ $line == *COMPLETION-DONE* ]] && break
done
zpty -d shell
"""


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    """A folder holding backups.yaml (photos, photos-cloud, documents) and the sources."""
    folder = tmp_path / "plan"
    for source in ("data/photos", "data/documents", "backup"):
        (folder / source).mkdir(parents=True)
    (folder / "data/photos/beach.jpg").write_text("sand\n")
    (folder / "data/documents/letter.txt").write_text("dear\n")
    (folder / "backups.yaml").write_text(PLAN)
    return folder


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a shell whose `backupplan` on PATH runs this checkout."""
    folder = tmp_path / "bin"
    folder.mkdir()
    wrapper = folder / "backupplan"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m backupplan "$@"\n')
    wrapper.chmod(0o755)
    return backupplan_env({"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"})


def completion_script(shell: str, env: dict[str, str], folder: Path) -> Path:
    """Write the script `backupplan completion SHELL` prints into `folder`; return its path."""
    result = subprocess.run(
        ["backupplan", "completion", shell], env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    folder.mkdir(exist_ok=True)
    path = folder / f"backupplan.{shell}"
    path.write_text(result.stdout)
    return path


def bash_complete(words: list[str], *, env: dict[str, str], cwd: Path, script: Path) -> list[str]:
    """Complete the last of `words` as bash does after Tab: COMP_WORDS and COMP_CWORD set, the
    completion function called with the command, the word and the one before; return COMPREPLY.
    Nothing may reach stderr."""
    program = (
        f"source {shlex.quote(str(script))}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(word) for word in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        '_backupplan_completion backupplan "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return [line for line in result.stdout.splitlines() if line]


def complete_in_process(args: list[str], incomplete: str) -> list[str]:
    """What click offers for `backupplan ARGS INCOMPLETE`, without a shell."""
    completer = BashComplete(cli, {}, "backupplan", "_BACKUPPLAN_COMPLETE")
    return [item.value for item in completer.get_completions(args, incomplete)]


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with the bytes of the files: to see that nothing was written."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


def test_bash_completes_job_ids_from_the_plan(
    plan_dir: Path, shell_env: dict[str, str], tmp_path: Path
) -> None:
    script = completion_script("bash", shell_env, tmp_path / "scripts")
    before = tree(plan_dir)
    assert bash_complete(["backupplan", "run", "ph"], env=shell_env, cwd=plan_dir, script=script) == [
        "photos",
        "photos-cloud",
    ]
    assert bash_complete(["backupplan", "run", "photos", ""], env=shell_env, cwd=plan_dir, script=script) == [
        "documents",
        "photos-cloud",
    ]
    assert tree(plan_dir) == before  # no state dir, nothing written


def test_bash_completes_commands_and_flags(plan_dir: Path, shell_env: dict[str, str], tmp_path: Path) -> None:
    script = completion_script("bash", shell_env, tmp_path / "scripts")

    def complete(*words: str) -> list[str]:
        return bash_complete(["backupplan", *words], env=shell_env, cwd=plan_dir, script=script)

    assert complete("ap") == ["apply"]
    assert complete("notify", "t") == ["test"]
    assert complete("run", "--dr") == ["--dry-run"]
    assert complete("check", "--job", "doc") == ["documents"]


def test_the_plan_is_the_one_on_the_line_then_the_environment(
    plan_dir: Path, shell_env: dict[str, str], tmp_path: Path
) -> None:
    script = completion_script("bash", shell_env, tmp_path / "scripts")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plan = str(plan_dir / "backups.yaml")

    def complete(*words: str, env: dict[str, str] = shell_env) -> list[str]:
        return bash_complete(["backupplan", *words], env=env, cwd=elsewhere, script=script)

    assert complete("verify", "") == []  # no ./backups.yaml here
    assert complete("verify", "-p", plan, "") == ["documents", "photos", "photos-cloud"]
    assert complete("verify", "--plan", plan, "d") == ["documents"]
    assert complete("verify", "", env={**shell_env, "BACKUPPLAN_PLAN": plan}) == [
        "documents",
        "photos",
        "photos-cloud",
    ]


@pytest.mark.parametrize("words", JOB_PARAMETERS, ids=" ".join)
def test_every_job_parameter_completes_job_ids(
    words: list[str], plan_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(plan_dir)
    assert complete_in_process(words, "doc") == ["documents"]


def test_run_ids_come_from_the_journal_read_only(
    plan_dir: Path, shell_env: dict[str, str], tmp_path: Path
) -> None:
    for jobs in (["photos", "documents"], ["photos"]):
        done = subprocess.run(
            ["backupplan", "run", *jobs],
            cwd=plan_dir,
            env=shell_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def runs(job: str) -> list[str]:
        history = subprocess.run(
            ["backupplan", "history", job, "--json"],
            cwd=plan_dir,
            env=shell_env,
            capture_output=True,
            text=True,
            check=True,
        )
        return [run["run"] for run in json.loads(history.stdout)["runs"]]

    photos, documents = runs("photos"), runs("documents")
    assert (len(photos), len(documents)) == (2, 1)
    script = completion_script("bash", shell_env, tmp_path / "scripts")
    before = tree(plan_dir)

    def complete(*words: str) -> list[str]:
        return bash_complete(["backupplan", *words], env=shell_env, cwd=plan_dir, script=script)

    assert complete("changes", "photos", "") == photos  # newest first, as history lists them
    assert complete("logs", "documents", "--run", "") == documents
    every = complete("logs", "--run", "")
    assert sorted(every) == sorted(photos + documents)
    assert [run[:16] for run in every] == sorted((run[:16] for run in every), reverse=True)  # newest first
    # the start of an id completes it when no other id starts so (runs of the same second share
    # all but their random suffix: take the shortest start that only this id has)
    others = [run for run in photos + documents if run != photos[0]]
    start = next(
        photos[0][:size] for size in range(16, 41) if not any(o.startswith(photos[0][:size]) for o in others)
    )
    assert complete("logs", "--run", start) == [photos[0]]
    assert complete("history", "--state-dir", str(plan_dir / "state"), "") == ["documents", "photos"]
    assert tree(plan_dir) == before  # the journal was only read


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param("jobs: [photos\n", id="not YAML"),
        pytest.param(PLAN.replace("    engine: rsync\n", "", 1), id="a job without engine"),
        pytest.param(PLAN.replace("version: 1", "version: 7"), id="unknown version"),
        pytest.param(None, id="no plan"),
    ],
)
def test_an_invalid_or_missing_plan_completes_nothing_quietly(
    plan: str | None, tmp_path: Path, shell_env: dict[str, str], _isolated_home: Path
) -> None:
    script = completion_script("bash", shell_env, tmp_path / "scripts")
    folder = tmp_path / "plan"
    folder.mkdir()
    if plan is not None:
        (folder / "backups.yaml").write_text(plan)
    before = tree(folder)
    for words in (["run", "ph"], ["changes", "photos", ""], ["logs", "--run", ""]):
        # bash_complete also asserts that nothing reached stderr
        assert bash_complete(["backupplan", *words], env=shell_env, cwd=folder, script=script) == []
    assert tree(folder) == before
    assert not (_isolated_home / ".local/state/backupplan/crash").exists()


def test_a_bug_in_completion_completes_nothing(
    plan_dir: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    from backupplan.commands import complete

    def broken(plan_path: str, **options: object) -> list[tuple[str, str]]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(complete, "job_ids", broken)
    monkeypatch.chdir(plan_dir)
    assert complete_in_process(["run"], "ph") == []
    assert not (_isolated_home / ".local/state/backupplan/crash").exists()


def test_paths_are_left_to_the_shell(plan_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(plan_dir)
    completer = BashComplete(cli, {}, "backupplan", "_BACKUPPLAN_COMPLETE")
    for args, kind in [
        (["run", "-p"], "file"),
        (["validate"], "file"),
        (["logs", "--export"], "file"),
        (["status", "--state-dir"], "dir"),
        (["restore", "photos", "--to"], "dir"),
        (["systemd", "--write-to"], "dir"),
    ]:
        completions = completer.get_completions(args, "ba")
        assert [(item.type, item.value) for item in completions] == [(kind, "ba")], args


def test_a_script_for_each_shell(shell_env: dict[str, str], tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    bash, zsh, fish = (completion_script(shell, shell_env, scripts) for shell in ("bash", "zsh", "fish"))
    assert "complete -o nosort -F _backupplan_completion backupplan" in bash.read_text()
    assert zsh.read_text().startswith("#compdef backupplan\n")
    assert "complete --no-files --command backupplan" in fish.read_text()
    assert "_BACKUPPLAN_COMPLETE=" in bash.read_text() + zsh.read_text() + fish.read_text()
    for shell, script in (("bash", bash), ("zsh", zsh), ("fish", fish)):
        if shutil.which(shell) is not None:
            checked = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, check=False)
            assert (checked.returncode, checked.stderr) == (0, ""), shell
    refused = subprocess.run(
        ["backupplan", "completion", "tcsh"], env=shell_env, capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in refused.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (Debian: apt-get install zsh)")
def test_zsh_completes_for_real(plan_dir: Path, shell_env: dict[str, str], tmp_path: Path) -> None:
    script = completion_script("zsh", shell_env, tmp_path / "scripts")
    functions = tmp_path / "zsh-functions"
    functions.mkdir()
    script.rename(functions / "_backupplan")
    setup = tmp_path / "scripts/setup.zsh"
    setup.write_text(ZSH_SETUP.format(functions=shlex.quote(str(functions))))
    driver = tmp_path / "scripts/driver.zsh"
    driver.write_text(ZSH_DRIVER)

    def complete(line: str) -> list[str]:
        result = subprocess.run(
            ["zsh", "-f", str(driver), str(setup), line],
            cwd=plan_dir,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return list(dict.fromkeys(re.findall(r"MATCH:(\S+)", result.stdout)))  # each once, in order

    assert complete("backupplan run ph") == ["photos", "photos-cloud"]
    assert complete("backupplan ap") == ["apply"]
    assert complete("backupplan run --dry-") == ["--dry-run"]


@pytest.mark.skipif(
    shutil.which("fish") is None, reason="fish is not installed (Debian: apt-get install fish)"
)
def test_fish_completes_for_real(plan_dir: Path, shell_env: dict[str, str], tmp_path: Path) -> None:
    script = completion_script("fish", shell_env, tmp_path / "scripts")

    def complete(line: str) -> list[str]:
        result = subprocess.run(
            [
                "fish",
                "--no-config",
                "-c",
                f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}",
            ],
            cwd=plan_dir,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
        return result.stdout.splitlines()

    assert complete("backupplan run ph") == ["photos\tPhotos to the second disk", "photos-cloud"]
    assert [line.split("\t")[0] for line in complete("backupplan ap")] == ["apply"]
    assert [line.split("\t")[0] for line in complete("backupplan run --dry-")] == ["--dry-run"]
