"""`versions:` of rclone jobs with the real rclone (docs/remote.md, History: versions): each run's
replaced and deleted files in `<destination>.versions/<run stamp>/`, pruned by `keep:` after a
successful run, listed by `snapshots JOB`, restored by `restore JOB --snapshot ID`; on local
folders and on the S3 server of the tests (moto)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from backupplan.engines import get_engine
from backupplan.plan.load import load_plan
from backupplan.runner.transfer import transfer_spec
from tests.runner.helpers import of_type, write_plan
from tests.servers import MotoS3
from tests.trees import build, describe

FILES = {
    f"docs/file-{number:02d}.txt".encode(): f"version one of {number}\n".encode() for number in range(20)
}
FILES[b"with space.txt"] = b"space, version one\n"


def contents(root: Path) -> dict[bytes, str]:
    """Every file under `root` as relative path -> sha256 (what a copy must equal)."""
    return {path: entry[2] for path, entry in describe(root).items()}


def versions_plan(tmp_path: Path, destination: str = "dst", extra: str = "") -> Path:
    return write_plan(
        tmp_path,
        "  docs:\n    engine: rclone\n    source: src\n"
        f"    destination: {destination}\n    delete: true\n{extra}",
    )


def run(run_backupplan, plan: Path, env: dict[str, str] | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Run job docs; return its run.finished record (asserting it did not fail)."""
    done = run_backupplan(["run", "--plan", str(plan), "docs"], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return of_type(plan.parent / ".backupplan", "run.finished")[-1]


def stamp(record: dict[str, Any]) -> str:
    return str(record["run"]).split("-")[0]


def change_and_delete(source: Path) -> None:
    """A day's damage: one file rewritten (another size: rclone sees it), one deleted."""
    (source / "docs" / "file-03.txt").write_bytes(b"version two of 3, longer\n")
    (source / "docs" / "file-07.txt").unlink()


def test_a_local_copy_keeps_what_each_run_replaced_or_deleted(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", FILES)
    plan = versions_plan(tmp_path, extra="    versions: {}\n")
    first = run(run_backupplan, plan)
    assert first["data"]["changes"] == {"added": 21, "changed": 0, "deleted": 0}
    assert not (tmp_path / "dst.versions").exists()  # nothing replaced: rclone made no folder
    change_and_delete(source)
    time.sleep(1.1)  # run ids (and so version folders) are to the second
    second = run(run_backupplan, plan)
    assert second["data"]["changes"] == {"added": 0, "changed": 1, "deleted": 1}
    folder = tmp_path / "dst.versions" / stamp(second)
    assert sorted(contents(folder)) == [b"docs/file-03.txt", b"docs/file-07.txt"]  # nothing else
    assert (folder / "docs" / "file-03.txt").read_bytes() == b"version one of 3\n"
    assert (folder / "docs" / "file-07.txt").read_bytes() == b"version one of 7\n"
    assert contents(tmp_path / "dst") == contents(source)
    started = of_type(tmp_path / ".backupplan", "run.child")[-1]["data"]["argv"]
    assert f"--backup-dir={folder}" in started
    time.sleep(1.1)
    third = run(run_backupplan, plan)  # nothing changed: no new folder
    assert third["data"]["changes"] == {"added": 0, "changed": 0, "deleted": 0}
    assert sorted(os.listdir(tmp_path / "dst.versions")) == [stamp(second)]


def test_versions_go_to_the_path_given(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", FILES)
    plan = versions_plan(tmp_path, extra="    versions: {path: history/docs}\n")
    run(run_backupplan, plan)
    change_and_delete(source)
    time.sleep(1.1)
    second = run(run_backupplan, plan)
    folder = tmp_path / "history" / "docs" / stamp(second)
    assert sorted(contents(folder)) == [b"docs/file-03.txt", b"docs/file-07.txt"]
    assert not (tmp_path / "dst.versions").exists()


def fake_folders(root: Path, stamps: list[str]) -> None:
    """Version folders of runs that happened on other days (the times are in their names: days
    cannot be waited for); each holds a file, as a real one would."""
    for name in stamps:
        build(root / name / "docs", {b"old.txt": name.encode()})


OLD = [f"202611{day:02d}T{hour:02d}0000Z" for day in range(1, 11) for hour in (2, 14)]


def test_pruning_keeps_what_the_policy_says_over_several_runs(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", FILES)
    plan = versions_plan(tmp_path, extra="    guard: off\n    versions: {keep: {last: 2, daily: 3}}\n")
    run(run_backupplan, plan)
    fake_folders(tmp_path / "dst.versions", OLD)
    state = tmp_path / ".backupplan"
    time.sleep(1.1)
    run(run_backupplan, plan)  # nothing changed: no new folder, so nothing new to prune (no listing)
    assert sorted(os.listdir(tmp_path / "dst.versions")) == OLD
    assert of_type(state, "versions.pruned") == []

    def damage_and_run(number: int) -> dict[str, Any]:
        (source / "docs" / "file-01.txt").write_bytes(f"version {number + 1}, {'x' * number}\n".encode())
        time.sleep(1.1)
        return run(run_backupplan, plan)

    first = damage_and_run(1)
    assert sorted(os.listdir(tmp_path / "dst.versions")) == [
        "20261109T140000Z",
        "20261110T140000Z",
        stamp(first),
    ]
    (pruned,) = of_type(state, "versions.pruned")
    assert pruned["run"] == first["run"]
    assert pruned["data"] == {
        "root": str(tmp_path / "dst.versions"),
        "ids": [name for name in OLD if name not in ("20261109T140000Z", "20261110T140000Z")],
        "kept": {
            stamp(first): ["last 1", "daily 1", "newest"],
            "20261110T140000Z": ["last 2", "daily 2"],
            "20261109T140000Z": ["daily 3"],
        },
    }
    second = damage_and_run(2)  # the first run's folder is kept by `last 2`: nothing is removed
    assert sorted(os.listdir(tmp_path / "dst.versions")) == sorted(
        ["20261109T140000Z", "20261110T140000Z", stamp(first), stamp(second)]
    )
    assert len(of_type(state, "versions.pruned")) == 1
    third = damage_and_run(3)  # now it is neither among the last 2 nor the newest of its day
    assert sorted(os.listdir(tmp_path / "dst.versions")) == sorted(
        ["20261109T140000Z", "20261110T140000Z", stamp(second), stamp(third)]
    )
    assert of_type(state, "versions.pruned")[-1]["data"]["ids"] == [stamp(first)]
    assert (
        tmp_path / "dst.versions" / stamp(third) / "docs" / "file-01.txt"
    ).read_bytes() == b"version 3, xx\n"
    log = sorted((state / "logs" / "docs").glob("*.log"))[-1].read_text()
    assert f"pruned 1 version folder(s) in {tmp_path / 'dst.versions'}: {stamp(first)}" in log


def test_a_failed_run_prunes_nothing(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    plan = versions_plan(tmp_path, extra="    source_marker: .mounted\n    versions: {keep: {last: 1}}\n")
    fake_folders(tmp_path / "dst.versions", OLD)
    done = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert done.returncode == 1
    assert sorted(os.listdir(tmp_path / "dst.versions")) == OLD
    assert of_type(tmp_path / ".backupplan", "versions.pruned") == []


def test_a_pruning_failure_is_a_warning_not_a_failed_backup(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    """An old version folder on a read-only mount: rclone purge fails for real; the copy is good."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    source = build(tmp_path / "src", FILES)
    plan = versions_plan(tmp_path, extra="    guard: off\n    versions: {keep: {last: 1}}\n")
    run(run_backupplan, plan)
    fake_folders(tmp_path / "dst.versions", OLD[:2])
    stuck = tmp_path / "dst.versions" / OLD[0]
    subprocess.run(["mount", "--bind", str(stuck), str(stuck)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(stuck)], check=True)
        change_and_delete(source)
        time.sleep(1.1)
        done = run_backupplan(["run", "--plan", str(plan), "docs"])
    finally:
        subprocess.run(["umount", "--lazy", str(stuck)], check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    finished = of_type(tmp_path / ".backupplan", "run.finished")[-1]["data"]
    assert finished["status"] == "warning"
    assert finished["reason"].startswith(f"pruning versions: cannot remove {stuck}: ")
    assert contents(tmp_path / "dst") == contents(source)
    assert of_type(tmp_path / ".backupplan", "versions.pruned") == []  # the first purge failed
    assert "pruning versions" in done.stdout


def test_snapshots_lists_the_versions_and_restore_brings_one_back(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", FILES)
    plan = versions_plan(tmp_path, extra="    versions: {keep: {daily: 7}}\n")
    run(run_backupplan, plan)
    fake_folders(tmp_path / "dst.versions", ["20261101T020000Z"])
    change_and_delete(source)
    time.sleep(1.1)
    second = stamp(run(run_backupplan, plan))
    listed = run_backupplan(["snapshots", "--plan", str(plan), "docs"])
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert (
        lines[0]
        == f"Versions of docs in {tmp_path / 'dst.versions'} (what each run replaced or deleted, as it was before):"
    )
    assert lines[2].split() == ["ID", "RUN", "STARTED", "FILES", "SIZE", "KEPT", "BY"]
    assert lines[3].split() == ["20261101T020000Z", "2026-11-01", "02:00:00", "1", "16", "B", "daily", "2"]
    assert lines[4].split()[0] == second and lines[4].split()[3:] == ["2", "34", "B", "daily", "1,", "newest"]
    as_json = json.loads(run_backupplan(["snapshots", "--plan", str(plan), "docs", "--json"]).stdout)
    assert as_json["versions"] == [
        {
            "id": "20261101T020000Z",
            "time": "2026-11-01T02:00:00Z",
            "files": 1,
            "bytes": 16,
            "kept_by": ["daily 2"],
        },
        {
            "id": second,
            "time": as_json["versions"][1]["time"],
            "files": 2,
            "bytes": 34,
            "kept_by": ["daily 1", "newest"],
        },
    ]
    back = tmp_path / "back"
    restored = run_backupplan(
        ["restore", "--plan", str(plan), "docs", "--snapshot", second, "--to", str(back)]
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert {path: (back / os.fsdecode(path)).read_bytes() for path in contents(back)} == {
        b"docs/file-03.txt": b"version one of 3\n",
        b"docs/file-07.txt": b"version one of 7\n",
    }
    one = tmp_path / "one"
    restored = run_backupplan(["restore", "--plan", str(plan), "docs", "--snapshot", second,
                               "--path", "docs/file-07.txt", "--to", str(one)])  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert sorted(contents(one)) == [b"docs/file-07.txt"]
    missing = run_backupplan(["restore", "--plan", str(plan), "docs", "--snapshot", "20261102T020000Z",
                              "--to", str(tmp_path / "none")])  # fmt: skip
    assert missing.returncode == 1
    assert "docs has no version folder '20261102T020000Z'" in missing.stderr
    assert not (tmp_path / "none").exists()


def test_the_run_argv_gets_one_backup_dir_per_run_and_verify_none(tmp_path: Path) -> None:
    plan = versions_plan(tmp_path, "remote:bucket/docs", "    versions: {keep: {daily: 7}}\n")
    loaded = load_plan(str(plan))
    engine = get_engine("rclone")
    spec = transfer_spec(loaded.jobs["docs"], loaded.base_dir, versions_folder="20261128T020000Z")
    argv = engine.argv(spec)
    assert argv[:2] == ("rclone", "sync")
    assert "--backup-dir=remote:bucket/docs.versions/20261128T020000Z" in argv
    assert not any(part.startswith("--backup-dir") for part in engine.verify_argv(spec, "quick"))
    plain = versions_plan(tmp_path, "remote:bucket/docs")
    unversioned = transfer_spec(load_plan(str(plain)).jobs["docs"], loaded.base_dir)
    assert not any(part.startswith("--backup-dir") for part in engine.argv(unversioned))


def rclone(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    plain = {**{key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}, **env}
    return subprocess.run(["rclone", *arguments], env=plain, capture_output=True, text=True, check=True)


@pytest.mark.slow
def test_versions_on_s3(tmp_path: Path, moto_s3: MotoS3, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    """The same on the S3 server: rclone moves replaced objects server-side into the version
    folder; pruning purges by the policy; listing and restore go through the remote."""
    source = build(tmp_path / "src", FILES)
    env = moto_s3.env()
    rclone(env, "mkdir", "moto:backups")
    keys = "".join(f"      {key}: '{value}'\n" for key, value in env.items())
    plan = versions_plan(
        tmp_path, "moto:backups/docs", f"    versions: {{keep: {{last: 1}}}}\n    env:\n{keys}"
    )
    run(run_backupplan, plan)
    assert json.loads(rclone(env, "lsjson", "moto:backups/docs.versions").stdout) == []
    change_and_delete(source)
    time.sleep(1.1)
    finished = run(run_backupplan, plan)  # S3 has no rename: a server-side copy, then a delete
    assert finished["data"]["changes"] == {"added": 0, "changed": 1, "deleted": 1}
    second = stamp(finished)
    folder = f"moto:backups/docs.versions/{second}"
    assert rclone(env, "cat", f"{folder}/docs/file-03.txt").stdout == "version one of 3\n"
    assert rclone(env, "cat", f"{folder}/docs/file-07.txt").stdout == "version one of 7\n"
    copy = json.loads(rclone(env, "lsjson", "-R", "--files-only", "--hash", "moto:backups/docs").stdout)
    assert sorted(entry["Path"] for entry in copy) == sorted(
        os.fsdecode(path) for path in FILES if path != b"docs/file-07.txt"
    )
    assert rclone(env, "cat", "moto:backups/docs/docs/file-03.txt").stdout == "version two of 3, longer\n"
    listed = json.loads(run_backupplan(["snapshots", "--plan", str(plan), "docs", "--json"]).stdout)
    assert [(item["id"], item["files"], item["kept_by"]) for item in listed["versions"]] == [
        (second, 2, ["last 1", "newest"])
    ]
    back = tmp_path / "back"
    restored = run_backupplan(
        ["restore", "--plan", str(plan), "docs", "--snapshot", second, "--to", str(back)]
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert (back / "docs" / "file-07.txt").read_bytes() == b"version one of 7\n"
    assert sorted(contents(back)) == [b"docs/file-03.txt", b"docs/file-07.txt"]
    (source / "with space.txt").write_bytes(b"space, version two!\n")
    time.sleep(1.1)
    finished = run(run_backupplan, plan)
    assert finished["data"]["changes"] == {"added": 0, "changed": 1, "deleted": 0}
    third = stamp(finished)
    folders = json.loads(rclone(env, "lsjson", "--dirs-only", "moto:backups/docs.versions").stdout)
    assert [entry["Name"] for entry in folders] == [third]  # `last: 1`: the second's is purged
    assert of_type(tmp_path / ".backupplan", "versions.pruned")[-1]["data"]["ids"] == [second]
