"""`backupplan run` with real rsync and rclone on local folders: results, records, logs, hooks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner.helpers import of_type, records, write_plan
from tests.trees import AWKWARD_NAMES, build, describe


def test_rsync_and_rclone_jobs_copy_everything(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", AWKWARD_NAMES)
    plan = write_plan(
        tmp_path,
        """\
  mirror:
    engine: rsync
    source: src
    destination: out/mirror
  cloud:
    engine: rclone
    source: src
    destination: out/cloud
""",
    )
    (tmp_path / "out").mkdir()
    result = run_backupplan(["run", "--plan", str(plan), "mirror", "cloud"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert describe(tmp_path / "out" / "mirror", ignore=(b".backupplan-partial",)) == describe(
        tmp_path / "src"
    )
    cloud = describe(tmp_path / "out" / "cloud")
    assert {name: entry[2] for name, entry in cloud.items()} == {
        name: entry[2] for name, entry in describe(tmp_path / "src").items()
    }
    assert "2 of 2 jobs succeeded." in result.stdout
    state = tmp_path / ".backupplan"
    finished = {record["job"]: record["data"] for record in of_type(state, "run.finished")}
    assert finished["mirror"]["status"] == "succeeded" and finished["cloud"]["status"] == "succeeded"
    assert finished["mirror"]["files"] == len(AWKWARD_NAMES)
    assert finished["mirror"]["bytes"] == sum(len(content) for content in AWKWARD_NAMES.values())
    types = [record["type"] for record in records(state) if record["job"] == "mirror"]
    assert types == ["run.started", "run.child", "run.attempt", "run.finished"]  # no notify targets: no notes
    # logs: one per run, private, tagged lines
    logs = list((state / "logs" / "mirror").glob("*.log"))
    assert len(logs) == 1 and logs[0].stat().st_mode & 0o777 == 0o600
    assert (state / "logs").stat().st_mode & 0o777 == 0o700
    lines = logs[0].read_text().splitlines()
    assert lines[0].split(" ", 2)[1] == "[backupplan]"
    assert any(" [rsync] " in line for line in lines)
    # the site was written
    status = json.loads((tmp_path / "site" / "status.json").read_text())
    assert {job["id"]: job["status"] for job in status["jobs"]} == {
        "cloud": "succeeded",
        "mirror": "succeeded",
    }


def test_missing_source_fails_with_the_reason(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(tmp_path, "  gone:\n    engine: rsync\n    source: nowhere\n    destination: out\n")
    result = run_backupplan(["run", "--plan", str(plan), "gone"])
    assert result.returncode == 1
    (finished,) = of_type(tmp_path / ".backupplan", "run.finished")
    assert finished["data"]["status"] == "failed" and finished["data"]["exit_code"] is None
    assert finished["data"]["reason"].startswith(f"refused: the source {tmp_path / 'nowhere'} does not exist")
    assert of_type(tmp_path / ".backupplan", "run.attempt") == []  # refused before rsync started
    assert "gone  failed" in result.stdout


def test_retryable_failure_is_not_retried_when_fatal_and_attempts_are_journaled(
    tmp_path: Path, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    """Exit 11 (the destination cannot be made) is fatal: one attempt only even with attempts: 3."""
    build(tmp_path / "src", {b"a.txt": b"a"})
    plan = write_plan(
        tmp_path,
        "  gone:\n    engine: rsync\n    source: src\n    destination: /proc/no-such/out\n"
        "    retries: {attempts: 3, backoff: 1s}\n",
    )
    run_backupplan(["run", "--plan", str(plan), "gone"])
    attempts = of_type(tmp_path / ".backupplan", "run.attempt")
    assert [attempt["data"]["outcome"] for attempt in attempts] == ["fatal"]


def test_before_hook_failure_skips_the_transfer(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a"})
    plan = write_plan(
        tmp_path,
        """\
  hooked:
    engine: rsync
    source: src
    destination: out
    hooks:
      before: [{shell: "echo preparing; echo broken disk >&2; exit 3"}]
      on_failure: [{shell: "echo \\"$BACKUPPLAN_JOB $BACKUPPLAN_STATUS $BACKUPPLAN_RUN\\" > failure.txt"}]
      after: [{shell: "echo after >> after.txt"}]
""",
    )
    result = run_backupplan(["run", "--plan", str(plan), "hooked"], cwd=tmp_path)
    assert result.returncode == 1
    assert not (tmp_path / "out").exists()
    (finished,) = of_type(tmp_path / ".backupplan", "run.finished")
    assert finished["data"]["reason"].startswith("before hook 1 exited 3: the transfer was skipped")
    job, status, run = (tmp_path / "failure.txt").read_text().split()
    assert (job, status, run) == ("hooked", "failed", finished["run"])
    assert (tmp_path / "after.txt").read_text() == "after\n"
    log = next((tmp_path / ".backupplan" / "logs" / "hooked").glob("*.log")).read_text()
    assert "[hook] preparing" in log and "[hook] broken disk" in log


def test_hooks_get_the_runs_facts(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"abc", b"b.txt": b"de"})
    plan = write_plan(
        tmp_path,
        """\
  facts:
    engine: rsync
    source: src
    destination: out
    env: {EXTRA: from-the-plan}
    hooks:
      on_success: [[sh, -c, 'env | grep -E "^(BACKUPPLAN_|EXTRA=)" | sort > facts.txt']]
""",
    )
    assert run_backupplan(["run", "--plan", str(plan), "facts"], cwd=tmp_path).returncode == 0
    facts = dict(line.split("=", 1) for line in (tmp_path / "facts.txt").read_text().splitlines())
    assert facts["BACKUPPLAN_JOB"] == "facts" and facts["BACKUPPLAN_STATUS"] == "succeeded"
    assert facts["BACKUPPLAN_EXIT_CODE"] == "0" and facts["BACKUPPLAN_BYTES"] == "5"
    assert facts["BACKUPPLAN_FILES"] == "2" and facts["BACKUPPLAN_HOOK"] == "on_success"
    assert facts["EXTRA"] == "from-the-plan"
    assert Path(facts["BACKUPPLAN_LOG"]).is_file()


def test_failing_after_hook_makes_a_warning(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a"})
    plan = write_plan(
        tmp_path,
        "  j:\n    engine: rsync\n    source: src\n    destination: out\n"
        "    hooks: {after: [[/bin/false]]}\n",
    )
    result = run_backupplan(["run", "--plan", str(plan), "j"])
    assert result.returncode == 0  # the copy is complete; the warning says what went wrong
    (finished,) = of_type(tmp_path / ".backupplan", "run.finished")
    assert finished["data"]["status"] == "warning"
    assert finished["data"]["reason"] == "after hook 1 exited 1"


def test_paused_and_disabled_jobs_are_refused_without_force(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a"})
    plan = write_plan(
        tmp_path,
        "  p:\n    engine: rsync\n    source: src\n    destination: out/p\n"
        "  d:\n    engine: rsync\n    source: src\n    destination: out/d\n    enabled: false\n",
    )
    (tmp_path / "out").mkdir()
    assert run_backupplan(["pause", "--plan", str(plan), "p"]).returncode == 0
    refused = run_backupplan(["run", "--plan", str(plan), "p", "d"])
    assert refused.returncode == 1
    assert "p is paused: `backupplan resume p` first, or pass --force" in refused.stderr
    assert "d is disabled in the plan (enabled: false); pass --force to run it anyway" in refused.stderr
    assert run_backupplan(["run", "--plan", str(plan), "p", "d", "--force"]).returncode == 0
    assert run_backupplan(["resume", "--plan", str(plan), "p"]).returncode == 0
    assert run_backupplan(["run", "--plan", str(plan), "p"]).returncode == 0


def test_unknown_job_is_a_clear_error(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    plan = write_plan(tmp_path, "  photos:\n    engine: rsync\n    source: src\n    destination: out\n")
    result = run_backupplan(["run", "--plan", str(plan), "photo"])
    assert result.returncode == 1
    assert result.stderr == f"backupplan: no job 'photo' in {plan} (did you mean 'photos'?)\n"


def test_dry_run_prints_argv_and_changes_and_writes_nothing(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a", b"b.txt": b"b"})
    (tmp_path / "out").mkdir()
    build(tmp_path / "out", {b"a.txt": b"old", b"stale.txt": b"x"})
    plan = write_plan(
        tmp_path,
        "  j:\n    engine: rsync\n    source: src\n    destination: out\n    delete: true\n"
        "    env: {RSYNC_PASSWORD: '${DRY_SECRET}'}\n",
    )
    before = describe(tmp_path / "out")
    result = run_backupplan(["run", "--plan", str(plan), "j", "--dry-run"], env={"DRY_SECRET": "CANARY-dry"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "j: would run"
    assert lines[1].startswith("  rsync --archive ") and lines[1].endswith(
        f" -- {tmp_path}/src/ {tmp_path}/out"
    )
    assert (
        "    + new  b.txt" in lines and "    ~ changed  a.txt" in lines and "    - delete  stale.txt" in lines
    )
    assert lines[-1] == "Dry run: nothing was written."
    assert "CANARY" not in result.stdout + result.stderr
    assert describe(tmp_path / "out") == before
    assert not (tmp_path / ".backupplan").exists()


def test_log_retention_prunes_old_logs(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a"})
    plan = write_plan(
        tmp_path,
        "  j:\n    engine: rsync\n    source: src\n    destination: out\n",
        settings="  log_retention: {runs: 2}\n",
    )
    for _ in range(3):
        assert run_backupplan(["run", "--plan", str(plan), "j"]).returncode == 0
    logs = (tmp_path / ".backupplan" / "logs" / "j").glob("*.log")
    runs = [record["run"] for record in of_type(tmp_path / ".backupplan", "run.finished")]
    assert sorted(log.stem for log in logs) == sorted(runs[1:])  # the two newest runs keep their logs


def test_progress_lines_when_output_is_not_a_terminal(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    from tests.trees import big_file

    big_file(tmp_path / "src" / "big.bin", 4 * 1024 * 1024)
    plan = write_plan(tmp_path, "  j:\n    engine: rsync\n    source: src\n    destination: out\n")
    # a terminal's TERM, but stdout is a pipe: what decides is whether stdout is a terminal
    result = run_backupplan(["run", "--plan", str(plan), "j"], env={"TERM": "xterm-256color"})
    lines = result.stdout.splitlines()
    assert lines[0].startswith("j: started (run ")
    assert any(line.startswith("j: succeeded in ") and line.endswith("1 files, 4.0 MiB") for line in lines)
    assert "\x1b[" not in result.stdout  # no cursor movement when piped


def test_a_log_that_cannot_be_written_is_reported_and_the_backup_still_runs(
    tmp_path: Path, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a"})
    plan = write_plan(tmp_path, "  j:\n    engine: rsync\n    source: src\n    destination: out\n")
    (tmp_path / ".backupplan" / "logs").mkdir(parents=True)
    (tmp_path / ".backupplan" / "logs" / "j").write_text("a file where the job's log folder belongs")
    result = run_backupplan(["run", "--plan", str(plan), "j"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the run's log is incomplete: " in result.stdout + result.stderr
    assert describe(tmp_path / "out") == describe(tmp_path / "src")
