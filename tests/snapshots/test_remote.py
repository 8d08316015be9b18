"""The pure parts of snapshots on a server (snapshots.server): where the destination is, the shell
scripts (run here with the real `sh`, as the server runs them, against real folders), how their
output is read, and how failures are worded. The ssh side is tests/runner/test_ssh_snapshots.py."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from backupplan.engines import TransferSpec
from backupplan.errors import PlanError
from backupplan.plan.load import load_plan
from backupplan.snapshots.server import (
    SHELL_HINT,
    Answer,
    Remote,
    RemoteError,
    batches,
    failure,
    listing_script,
    parse_listing,
    point_latest_lines,
    remote_of,
)

SSH = ("ssh", "-p", "2222")
ONE, TWO, THREE = "2026-11-27T020000Z", "2026-11-28T020000Z", "2026-11-29T020000Z"


def spec(destination: str, rsh: tuple[str, ...] = SSH) -> TransferSpec:
    return TransferSpec(source="/data/", destination=destination, rsh=rsh)


@pytest.mark.parametrize(
    ("destination", "login", "path", "target"),
    [
        ("backup@nas.lan:/volume1/docs/", "backup@nas.lan", "/volume1/docs", "backup@nas.lan"),
        ("nas:backups/docs", "nas", "backups/docs", "nas"),
        ("nas:", "nas", ".", "nas"),
        ("me@nas:/", "me@nas", "/", "me@nas"),
        ("me@[fd00::1]:/srv/it's here", "me@[fd00::1]", "/srv/it's here", "me@fd00::1"),
    ],
)
def test_the_server_folder_of_a_destination(destination: str, login: str, path: str, target: str) -> None:
    remote = remote_of(spec(destination))
    assert remote is not None
    assert (remote.login, remote.path, remote.ssh_target, remote.ssh) == (login, path, target, SSH)
    assert remote.operand(ONE) == f"{login}:{path.rstrip('/')}/{ONE}"


@pytest.mark.parametrize(
    ("destination", "rsh"),
    [("/mnt/usb/docs", SSH), ("nas::module/docs", SSH), ("rsync://nas/m", SSH), ("nas:/docs", ())],
)
def test_local_and_daemon_destinations_are_not_on_a_server(destination: str, rsh: tuple[str, ...]) -> None:
    assert remote_of(spec(destination, rsh)) is None


def run_script(script: str, cwd: Path) -> Answer:
    done = subprocess.run(["sh", "-c", script], cwd=cwd, capture_output=True, text=True, check=False)
    return Answer(done.returncode, done.stdout.splitlines(), done.stderr.splitlines())


def here(folder: Path) -> Remote:
    return Remote(SSH, "me@nas", str(folder))


def test_the_listing_script_reads_the_layout(tmp_path: Path) -> None:
    destination = tmp_path / "docs with space"
    for name in (ONE, TWO, f"{THREE}.partial", ".trash-2026-01-01T000000Z", "mirror", "2026-13-45T000000Z"):
        (destination / name).mkdir(parents=True)
    (destination / "2026-11-30T020000Z").write_text("a file, not a snapshot")
    (destination / "2026-12-01T020000Z").symlink_to(ONE)  # a link is no snapshot either
    (destination / "latest").symlink_to(TWO)
    answer = run_script(listing_script(str(destination), create=False), tmp_path)
    assert answer.exit_code == 0, answer.errors
    listing = parse_listing(here(destination), answer.output)
    assert (listing.complete, listing.partial, listing.trash, listing.latest) == (
        (ONE, TWO),
        (THREE,),
        (".trash-2026-01-01T000000Z",),
        TWO,
    )
    assert listing.where == f"me@nas:{destination}"
    assert listing.newest == TWO


def test_a_missing_destination_is_made_only_when_its_parent_exists(tmp_path: Path) -> None:
    missing = tmp_path / "docs"
    answer = run_script(listing_script(str(missing), create=False), tmp_path)
    assert parse_listing(here(missing), answer.output).complete == ()
    assert not missing.exists()
    answer = run_script(listing_script(str(missing), create=True), tmp_path)
    assert answer.exit_code == 0 and parse_listing(here(missing), answer.output).complete == ()
    assert missing.is_dir() and (missing.stat().st_mode & 0o777) == 0o700
    unmounted = tmp_path / "usb" / "docs"
    answer = run_script(listing_script(str(unmounted), create=True), tmp_path)
    with pytest.raises(RemoteError, match=r"parent folder .*/usb does not exist on nas: is the disk mounted"):
        parse_listing(here(unmounted), answer.output)
    assert not (tmp_path / "usb").exists()


def test_a_destination_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "docs").write_text("x")
    answer = run_script(listing_script(str(tmp_path / "docs"), create=True), tmp_path)
    assert answer.exit_code == 3
    assert "is not a folder" in failure(here(tmp_path / "docs"), answer, "listing").args[0]


def test_latest_is_replaced_as_a_link_never_followed(tmp_path: Path) -> None:
    for name in (ONE, TWO):
        (tmp_path / name).mkdir()
    (tmp_path / "latest").symlink_to(ONE)
    answer = run_script("\n".join(point_latest_lines(TWO, "exit 4")), tmp_path)
    assert answer.exit_code == 0, answer.errors
    assert os.readlink(tmp_path / "latest") == TWO
    assert list((tmp_path / ONE).iterdir()) == []  # `mv` without -T would have moved the link into ONE
    assert sorted(path.name for path in tmp_path.iterdir()) == [ONE, TWO, "latest"]


def test_names_are_quoted_for_the_shell(tmp_path: Path) -> None:
    odd = tmp_path / "it's $(touch pwned) `x`;"
    odd.mkdir()
    (odd / ONE).mkdir()
    answer = run_script(listing_script(str(odd), create=False), tmp_path)
    assert parse_listing(here(odd), answer.output).complete == (ONE,)
    assert not (tmp_path / "pwned").exists()


def test_batches_keep_every_word_once_in_order_under_the_limit() -> None:
    words = [f"name-{number:04d} with space" for number in range(1000)]
    groups = batches(words, limit=2000)
    assert [word for group in groups for word in group] == words
    assert len(groups) > 1
    assert all(sum(len(shlex.quote(word)) + 1 for word in group) <= 2000 for group in groups)
    assert batches([]) == []


def test_failures_are_worded_with_ssh_s_words_first() -> None:
    remote = Remote(SSH, "me@nas", "/srv/docs")
    unreachable = Answer(255, [], ["ssh: connect to host nas port 2222: Connection refused"])
    error = failure(remote, unreachable, "listing the snapshots in me@nas:/srv/docs")
    assert str(error).startswith(
        "listing the snapshots in me@nas:/srv/docs: exit 255: nas cannot be reached over ssh"
    )
    assert error.kind == "retryable"
    restricted = Answer(1, [], ["rrsync error: SSH_ORIGINAL_COMMAND does not run rsync"])
    error = failure(remote, restricted, "renaming x")
    assert str(error) == "renaming x on nas failed: rrsync error: SSH_ORIGINAL_COMMAND does not run rsync"
    assert error.hint == SHELL_HINT and "rrsync" in error.hint


def plan_text(destination: str) -> str:
    return (
        "version: 1\njobs:\n  docs:\n    engine: rsync\n    source: /etc\n"
        f"    destination: '{destination}'\n    snapshots: {{keep: {{daily: 7}}}}\n"
    )


@pytest.mark.parametrize(
    "destination", ["backup@nas.lan:/volume1/docs", "ssh://backup@nas.lan:2222/volume1/docs"]
)
def test_snapshots_over_ssh_are_a_valid_plan(tmp_path: Path, destination: str) -> None:
    path = tmp_path / "backups.yaml"
    path.write_text(plan_text(destination))
    assert load_plan(path).jobs["docs"].snapshots is not None


def test_snapshots_on_an_rsync_daemon_are_refused_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "backups.yaml"
    path.write_text(plan_text("rsync://nas.lan/backups/docs"))
    with pytest.raises(PlanError) as raised:
        load_plan(path)
    assert (
        "backups.yaml:6:18: jobs.docs.destination: snapshots need a local or ssh destination, not an rsync daemon"
        in str(raised.value)
    )
