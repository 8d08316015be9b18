"""Snapshots on a server reached over ssh, with real rsync through the real OpenSSH server of
tests/sshd.py on 127.0.0.1 (so the server's folders are visible here too, and inodes can be
compared): linked snapshots, `latest`, retention, an interrupted run taken over, the listing, a
restore and a verification from a snapshot on the server, the dry run, and failures worded."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from backupplan.snapshots.layout import parse_id
from tests.runner.helpers import of_type
from tests.runner.test_ssh import ssh_job
from tests.sshd import Sshd
from tests.trees import big_file, build, describe

pytestmark = pytest.mark.slow

FIRST = {b"same.txt": b"unchanged\n", b"sub dir/it's.txt": b"q\n", b"changes.txt": b"one\n"}


def snapshots(remote: Path) -> list[str]:
    """The complete snapshots in the server's folder, oldest first."""
    return sorted(entry.name for entry in remote.iterdir() if entry.is_dir() and parse_id(entry.name))


def partials(remote: Path) -> list[str]:
    return sorted(entry.name for entry in remote.iterdir() if entry.name.endswith(".partial"))


def last(tmp_path: Path) -> dict[str, Any]:
    return of_type(tmp_path / ".backupplan", "run.finished")[-1]["data"]


def run(run_backupplan, plan: Path, *extra: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    return run_backupplan(["run", "--plan", str(plan), "docs", *extra], timeout=timeout)


def a_snapshot_then_a_slow_file(
    tmp_path: Path, sshd: Sshd, run_backupplan, mib: int
) -> tuple[Path, Path, str]:  # type: ignore[no-untyped-def]
    """A snapshot job at 1 MiB/s whose first snapshot is made, then a file of `mib` MiB added to
    its source (the next run takes seconds: time to interfere); return the server's folder, the
    plan and the first snapshot."""
    source = build(tmp_path / "src", {b"small.txt": b"s\n"})
    remote = tmp_path / "remote"
    plan = ssh_job(tmp_path, sshd, remote, "    snapshots: {}\n    bandwidth: 1MiB\n")
    assert run(run_backupplan, plan).returncode == 0
    (first,) = snapshots(remote)
    big_file(source / "big.bin", mib * 1024 * 1024)
    return remote, plan, first


def test_runs_make_linked_snapshots_on_the_server_and_prune_them(
    tmp_path: Path, sshd: Sshd, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", FIRST)
    remote = tmp_path / "server side" / "docs"
    remote.parent.mkdir()
    plan = ssh_job(tmp_path, sshd, remote, "    snapshots: {keep: {last: 2}}\n")

    first = run(run_backupplan, plan)
    assert first.returncode == 0, first.stdout + first.stderr
    first_state = describe(source)
    (source / "changes.txt").write_bytes(b"two, longer\n")
    os.utime(source / "changes.txt", (1_700_000_100, 1_700_000_100))
    second = run(run_backupplan, plan)
    assert second.returncode == 0, second.stdout + second.stderr

    one, two = snapshots(remote)
    assert os.readlink(remote / "latest") == two
    assert partials(remote) == []
    assert describe(remote / one) == first_state
    assert describe(remote / two) == describe(source)
    # rsync resolved --link-dest=../ONE against the new folder on the server: the unchanged files
    # are the same inodes, the changed one is new
    for name in ("same.txt", "sub dir/it's.txt"):
        assert os.stat(remote / one / name).st_ino == os.stat(remote / two / name).st_ino, name
    assert os.stat(remote / one / "changes.txt").st_ino != os.stat(remote / two / "changes.txt").st_ino
    created = of_type(tmp_path / ".backupplan", "snapshot.created")
    assert [record["data"]["id"] for record in created] == [one, two]
    assert created[1]["data"]["path"] == f"{sshd.user}@127.0.0.1:{remote}/{two}"
    assert created[1]["data"]["linked_to"] == one
    assert last(tmp_path)["status"] == "succeeded"

    # the listing, over ssh, from the command line
    listed = run_backupplan(["snapshots", "--plan", str(plan), "docs"])
    assert listed.returncode == 0, listed.stderr
    assert f"Snapshots of docs in {sshd.user}@127.0.0.1:{remote}:" in listed.stdout
    rows = [line.split() for line in listed.stdout.splitlines() if line.startswith(("20", "19"))]
    assert [row[0] for row in rows] == [one, two]
    assert rows[1][-1] == "latest" and rows[0][-1] != "latest"
    assert "not measured on a remote destination" in listed.stdout
    document = json.loads(run_backupplan(["snapshots", "--plan", str(plan), "docs", "--json"]).stdout)
    assert [(entry["id"], entry["latest"], entry["bytes"]) for entry in document["snapshots"]] == [
        (one, False, None),
        (two, True, None),
    ]

    # a restore of the older snapshot round trips byte for byte; the newest verifies
    back = tmp_path / "back"
    restored = run_backupplan(["restore", "--plan", str(plan), "docs", "--snapshot", one, "--to", str(back)])
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert describe(back) == first_state
    assert (back / "changes.txt").read_bytes() == b"one\n"
    verified = run_backupplan(["verify", "--plan", str(plan), "docs", "--checksum"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"snapshot {two}" in verified.stdout

    # a third run: `keep: {last: 2}` prunes the oldest, on the server
    (source / "new.txt").write_bytes(b"new\n")
    logins = sshd.log_text().count("Accepted publickey")
    third = run(run_backupplan, plan)
    assert third.returncode == 0, third.stdout + third.stderr
    # five ssh logins: the listing, rsync, the promotion (which lists again for retention), the
    # move of the oldest to the trash (journaled after it), and the trash's deletion
    assert sshd.log_text().count("Accepted publickey") - logins == 5
    kept = snapshots(remote)
    assert len(kept) == 2 and kept[0] == two and one not in kept
    assert os.readlink(remote / "latest") == kept[1]
    assert not [entry.name for entry in remote.iterdir() if entry.name.startswith(".trash-")]
    (pruned,) = of_type(tmp_path / ".backupplan", "snapshot.pruned")
    assert pruned["data"]["ids"] == [one]
    assert os.stat(remote / two / "same.txt").st_ino == os.stat(remote / kept[1] / "same.txt").st_ino


def test_an_interrupted_run_leaves_a_partial_that_the_next_run_takes_over(
    tmp_path: Path, sshd: Sshd, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    remote, plan, first = a_snapshot_then_a_slow_file(tmp_path, sshd, run_backupplan, 4)

    def cut() -> None:
        deadline = time.monotonic() + 15
        while len(of_type(tmp_path / ".backupplan", "run.child")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)
        sshd.kill_sessions()

    threading.Thread(target=cut, daemon=True).start()
    cut_short = run(run_backupplan, plan)
    assert cut_short.returncode == 1, cut_short.stdout + cut_short.stderr
    assert "the ssh connection to 127.0.0.1 was lost during the transfer" in last(tmp_path)["reason"]
    (left,) = partials(remote)
    assert snapshots(remote) == [first]
    assert os.readlink(remote / "latest") == first  # no half-made snapshot is ever `latest`

    again = run(run_backupplan, plan)
    assert again.returncode == 0, again.stdout + again.stderr
    assert partials(remote) == []
    older, newest = snapshots(remote)
    assert older == first and newest > left.removesuffix(".partial")
    assert os.readlink(remote / "latest") == newest
    assert describe(remote / newest) == describe(tmp_path / "src")
    log = (
        tmp_path / ".backupplan" / of_type(tmp_path / ".backupplan", "run.started")[-1]["data"]["log"]
    ).read_text()
    assert f"taking over {left} on 127.0.0.1, left by an interrupted run" in log
    assert os.stat(remote / first / "small.txt").st_ino == os.stat(remote / newest / "small.txt").st_ino


def test_the_dry_run_compares_with_the_newest_snapshot_on_the_server(
    tmp_path: Path, sshd: Sshd, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", FIRST)
    remote = tmp_path / "remote"
    plan = ssh_job(tmp_path, sshd, remote, "    snapshots: {}\n")
    assert run(run_backupplan, plan).returncode == 0
    (first,) = snapshots(remote)
    (source / "changes.txt").write_bytes(b"two, longer\n")
    looked = run(run_backupplan, plan, "--dry-run")
    assert looked.returncode == 0, looked.stdout + looked.stderr
    assert f"--link-dest=../{first}" in looked.stdout
    assert "would change 1 item:" in looked.stdout
    assert "~ changed  changes.txt" in looked.stdout
    assert snapshots(remote) == [first] and partials(remote) == []  # nothing was written


def test_a_guarded_run_over_its_limit_is_held_and_its_snapshot_discarded_on_the_server(
    tmp_path: Path, sshd: Sshd, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", {f"{number}.txt".encode(): b"x\n" for number in range(10)})
    remote = tmp_path / "remote"
    plan = ssh_job(tmp_path, sshd, remote, "    snapshots: {}\n    guard: {max_delete: 20%}\n")
    assert run(run_backupplan, plan).returncode == 0
    (first,) = snapshots(remote)
    for number in range(5):
        (source / f"{number}.txt").unlink()
    held = run(run_backupplan, plan)
    assert last(tmp_path)["status"] == "held", held.stdout + held.stderr
    assert snapshots(remote) == [first] and partials(remote) == []
    assert os.readlink(remote / "latest") == first
    assert not [entry.name for entry in remote.iterdir() if entry.name.startswith(".trash-")]


@pytest.mark.parametrize(
    ("break_it", "words"),
    [
        (lambda server: server.stop(), "127.0.0.1 cannot be reached over ssh"),
        (lambda server: server.refuse_key(), "the ssh server of 127.0.0.1 refused the key"),
    ],
    ids=["server-down", "key-refused"],
)
def test_a_server_that_cannot_be_asked_is_worded_and_leaves_the_snapshots_alone(
    tmp_path: Path, sshd: Sshd, run_backupplan, break_it: Any, words: str
) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a\n"})
    remote = tmp_path / "remote"
    plan = ssh_job(tmp_path, sshd, remote, "    snapshots: {}\n")
    assert run(run_backupplan, plan).returncode == 0
    (first,) = snapshots(remote)
    break_it(sshd)
    failed = run(run_backupplan, plan)
    assert failed.returncode == 1
    reason = last(tmp_path)["reason"]
    assert words in reason and "listing the snapshots in" in reason, reason
    assert snapshots(remote) == [first] and partials(remote) == []
    listed = run_backupplan(["snapshots", "--plan", str(plan), "docs"])
    assert listed.returncode == 1 and words in listed.stderr, listed.stderr


def test_a_missing_parent_folder_on_the_server_is_refused(tmp_path: Path, sshd: Sshd, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a\n"})
    plan = ssh_job(tmp_path, sshd, tmp_path / "not mounted" / "docs", "    snapshots: {}\n")
    failed = run(run_backupplan, plan)
    assert failed.returncode == 1
    assert "does not exist on 127.0.0.1: is the disk mounted there?" in last(tmp_path)["reason"]
    assert not (tmp_path / "not mounted").exists()


def test_a_login_restricted_to_rsync_cannot_hold_snapshots_and_says_so(
    tmp_path: Path, sshd: Sshd, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a\n"})
    public = sshd.identity.with_name(sshd.identity.name + ".pub").read_text()
    sshd.authorized_keys.write_text(f'command="/usr/bin/rrsync {tmp_path}",restrict {public}')
    plan = ssh_job(tmp_path, sshd, tmp_path / "remote", "    snapshots: {}\n")
    failed = run(run_backupplan, plan)
    assert failed.returncode == 1
    reason = last(tmp_path)["reason"]
    assert "listing the snapshots in" in reason and "on 127.0.0.1 failed:" in reason, reason
    assert "a login restricted to rsync with rrsync cannot hold snapshots" in reason, reason
    assert not (tmp_path / "remote").exists()


def test_a_promotion_that_fails_leaves_the_partial_and_latest_as_they_were(
    tmp_path: Path, sshd: Sshd, run_backupplan
) -> None:  # type: ignore[no-untyped-def]
    remote, plan, first = a_snapshot_then_a_slow_file(tmp_path, sshd, run_backupplan, 2)

    def occupy_the_name() -> None:  # something takes the new snapshot's name while rsync writes
        deadline = time.monotonic() + 20
        while not partials(remote) and time.monotonic() < deadline:
            time.sleep(0.02)
        (remote / partials(remote)[0].removesuffix(".partial")).mkdir()

    threading.Thread(target=occupy_the_name, daemon=True).start()
    failed = run(run_backupplan, plan)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    (left,) = partials(remote)
    reason = last(tmp_path)["reason"]
    assert f"renaming {left} to {left.removesuffix('.partial')} in " in reason, reason
    assert "on 127.0.0.1 failed: exists already" in reason, reason
    assert os.readlink(remote / "latest") == first
    assert describe(remote / left) == describe(
        tmp_path / "src"
    )  # the complete transfer waits in the .partial


def test_pruning_on_the_server_from_the_command_line(tmp_path: Path, sshd: Sshd, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    source = build(tmp_path / "src", {b"a.txt": b"a\n"})
    remote = tmp_path / "remote"
    plan = ssh_job(tmp_path, sshd, remote, "    snapshots: {keep: {last: 5}}\n")
    for number in range(3):
        (source / "n.txt").write_text(f"{number}\n")
        assert run(run_backupplan, plan).returncode == 0
    one, two, three = snapshots(remote)
    plan.write_text(plan.read_text().replace("last: 5", "last: 1"))
    shown = run_backupplan(["snapshots", "--plan", str(plan), "docs", "--prune", "--dry-run"])
    assert shown.returncode == 0, shown.stderr
    assert f"remove  {one}" in shown.stdout and f"remove  {two}" in shown.stdout
    assert f"keep    {three}  (last 1, newest)" in shown.stdout
    assert snapshots(remote) == [one, two, three]
    pruned = run_backupplan(["snapshots", "--plan", str(plan), "docs", "--prune"])
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "Removed 2 snapshots." in pruned.stdout
    assert snapshots(remote) == [three] and os.readlink(remote / "latest") == three
    assert sorted(entry.name for entry in remote.iterdir()) == [three, "latest"]
    (record,) = of_type(tmp_path / ".backupplan", "snapshot.pruned")
    assert record["data"] == {"ids": [one, two], "kept": {three: ["last 1", "newest"]}}
