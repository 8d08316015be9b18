"""A restore brings back exactly what was there (docs/fidelity.md): the corpus of tests/fidelity.py
backed up by real rsync into a mirror, a snapshot job and an rsync daemon, restored with
`backupplan restore`, compared property by property; a destination that cannot keep xattrs and
ACLs (a ramfs mounted by the test) is a warning naming the keys, never a silent loss."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.fidelity import build_corpus, describe_tree, differences
from tests.runner.helpers import of_type, write_plan
from tests.servers import RsyncDaemon

pytestmark = pytest.mark.slow


def restore(run_backupplan, plan: Path, target: Path, *extra: str) -> None:  # type: ignore[no-untyped-def]
    result = run_backupplan(["restore", "--plan", str(plan), "docs", "--to", str(target), *extra])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_mirror_and_its_restore_keep_everything(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    source = build_corpus(tmp_path / "src")
    plan = write_plan(tmp_path, "  docs:\n    engine: rsync\n    source: src\n    destination: dst\n")
    result = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert result.returncode == 0, result.stdout + result.stderr
    wanted = describe_tree(source)
    assert differences(wanted, describe_tree(tmp_path / "dst")) == []
    restore(run_backupplan, plan, tmp_path / "back")
    assert differences(wanted, describe_tree(tmp_path / "back")) == []
    verified = run_backupplan(["verify", "--plan", str(plan), "docs", "--metadata"])
    assert verified.returncode == 0, verified.stdout


def test_snapshots_keep_everything_and_share_unchanged_files(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    source = build_corpus(tmp_path / "src")
    plan = write_plan(
        tmp_path, "  docs:\n    engine: rsync\n    source: src\n    destination: dst\n    snapshots: {}\n"
    )
    assert run_backupplan(["run", "--plan", str(plan), "docs"]).returncode == 0
    time.sleep(1.1)  # another snapshot id
    (source / "new.txt").write_text("added on day two\n")
    second = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert second.returncode == 0, second.stdout + second.stderr
    first_id, second_id = [
        record["data"]["id"] for record in of_type(tmp_path / ".backupplan", "snapshot.created")
    ]
    first, latest = tmp_path / "dst" / first_id, tmp_path / "dst" / second_id
    assert (first / "tagged.txt").stat().st_ino == (latest / "tagged.txt").stat().st_ino  # across snapshots
    assert (latest / "links" / "pair-a").stat().st_ino == (latest / "links" / "pair-b").stat().st_ino
    wanted = describe_tree(source)
    assert differences(wanted, describe_tree(latest)) == []
    restore(run_backupplan, plan, tmp_path / "back")
    assert differences(wanted, describe_tree(tmp_path / "back")) == []
    restore(run_backupplan, plan, tmp_path / "older", "--snapshot", first_id)
    older = describe_tree(tmp_path / "older")
    assert b"new.txt" not in older["entries"]
    assert older["links"] == wanted["links"]


def test_through_an_rsync_daemon_and_back(tmp_path: Path, rsync_daemon: RsyncDaemon, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    source = build_corpus(tmp_path / "src")
    plan = write_plan(
        tmp_path,
        f"  docs:\n    engine: rsync\n    source: src\n    destination: {rsync_daemon.url('docs')}\n",
    )
    result = run_backupplan(["run", "--plan", str(plan), "docs"])
    assert result.returncode == 0, result.stdout + result.stderr
    wanted = describe_tree(source)
    stored = differences(wanted, describe_tree(rsync_daemon.module / "docs"))
    # A daemon without chroot stores symlinks munged (its default `munge symlinks`), and un-munges
    # them when they are read back through it: everything else is kept as it is.
    assert stored and all(": target " in item and "/rsyncd-munged/" in item for item in stored), stored
    restore(run_backupplan, plan, tmp_path / "back")
    assert differences(wanted, describe_tree(tmp_path / "back")) == []


def test_a_destination_without_xattrs_or_acls_is_a_warning_not_a_silent_loss(
    tmp_path: Path, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    build_corpus(tmp_path / "src")
    disk = tmp_path / "ramfs"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "ramfs", "ramfs", str(disk)], check=False, capture_output=True, text=True
    )
    if mounted.returncode != 0:
        import os

        if os.geteuid() != 0:
            pytest.skip(f"mounting a ramfs needs root: {mounted.stderr.strip()}")
        raise AssertionError(mounted.stderr)
    try:
        plan = write_plan(
            tmp_path, f"  docs:\n    engine: rsync\n    source: src\n    destination: {disk}/docs\n"
        )
        doctor = run_backupplan(["doctor", "--plan", str(plan)])
        assert (
            "cannot keep ACLs, extended attributes: set preserve: {acls: false, xattrs: false}"
            in doctor.stdout
        )
        failed = run_backupplan(["run", "--plan", str(plan), "docs"])
        assert failed.returncode == 1
        data = of_type(tmp_path / ".backupplan", "run.finished")[-1]["data"]
        assert data["reason"].startswith("exit 23: the destination cannot keep ACLs and extended attributes")
        assert "set preserve: {acls: false, xattrs: false}" in data["reason"]
        log = next((tmp_path / ".backupplan" / "logs" / "docs").glob("*.log")).read_text()
        assert "warning: the destination" in log and "cannot keep ACLs, extended attributes" in log

        plan = write_plan(
            tmp_path,
            f"  docs:\n    engine: rsync\n    source: src\n    destination: {disk}/docs\n"
            "    preserve: {acls: false, xattrs: false}\n",
        )
        chosen = run_backupplan(["run", "--plan", str(plan), "docs"])
        assert chosen.returncode == 0, chosen.stdout + chosen.stderr
        lost = differences(describe_tree(tmp_path / "src"), describe_tree(disk / "docs"))
        assert lost and all(": acl " in item or ": xattrs " in item for item in lost)  # only what was let go
        strict = run_backupplan(["verify", "--plan", str(plan), "docs", "--metadata"])
        assert strict.returncode == 0  # it compares what the job keeps
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)


def test_verify_metadata_finds_a_copy_that_lost_its_hard_links(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build_corpus(tmp_path / "src")
    subprocess.run(["rsync", "-a", f"{tmp_path}/src/", str(tmp_path / "dst")], check=True)  # no -H -A -X
    plan = write_plan(tmp_path, "  docs:\n    engine: rsync\n    source: src\n    destination: dst\n")
    verified = run_backupplan(["verify", "--plan", str(plan), "docs", "--metadata"])
    assert verified.returncode == 1
    assert "difference" in verified.stdout
