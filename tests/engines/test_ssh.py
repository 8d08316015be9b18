"""The ssh command rsync runs, and what ssh's error lines mean (pure; the real server is in
tests/runner/test_ssh.py)."""

from __future__ import annotations

from pathlib import Path

from backupplan.engines import ENGINES
from backupplan.engines.base import TransferSpec
from backupplan.engines.ssh import rsh_value, ssh_argv, ssh_host, ssh_problem
from backupplan.plan.locations import parse_location


def test_the_defaults_never_prompt_and_never_accept_a_changed_key() -> None:
    assert ssh_argv() == (
        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=10",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
    )  # fmt: skip
    argv = ssh_argv(port=2222, identity_file="/k/id", known_hosts="/k/known", host_keys="strict",
                    options=["Compression=no"])  # fmt: skip
    assert argv[:9] == (
        "ssh",
        "-o",
        "Compression=no",
        "-p",
        "2222",
        "-i",
        "/k/id",
        "-o",
        "IdentitiesOnly=yes",
    )
    assert "UserKnownHostsFile=/k/known" in argv and "StrictHostKeyChecking=yes" in argv


def test_rsh_value_keeps_paths_with_spaces() -> None:
    assert rsh_value(["ssh", "-i", "/my keys/id", "-o", "A=b"]) == "ssh -i '/my keys/id' -o A=b"
    assert rsh_value(["ssh", "-i", "it's"]) == 'ssh -i "' + "it's" + '"'


def test_rsync_is_told_the_ssh_command() -> None:
    spec = TransferSpec("/src/", "me@nas:/backup", rsh=("ssh", "-p", "2222"))
    argv = ENGINES["rsync"].argv(spec)
    assert "--rsh=ssh -p 2222" in argv and "--protect-args" in argv
    assert ssh_host(spec) == "nas"
    assert ssh_host(TransferSpec("/src/", "/dst")) is None


def test_an_ssh_url_becomes_what_rsync_reads() -> None:
    location = parse_location("ssh://me@nas.local:2222/srv/backup", "rsync", Path("/"))
    assert (location.kind, location.host, location.port, location.path) == (
        "ssh",
        "nas.local",
        2222,
        "/srv/backup",
    )
    assert location.operand == "me@nas.local:/srv/backup"


def test_what_ssh_says_is_worded() -> None:
    refused = ssh_problem(["root@nas: Permission denied (publickey)."], "nas", 255)
    assert refused is not None and refused.kind == "fatal" and "refused the key" in refused.message
    changed = ssh_problem(["WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"], "nas", 255)
    assert (
        changed is not None
        and "never accepted silently" in changed.message
        and "ssh-keygen -R nas" in changed.hint
    )
    down = ssh_problem(["ssh: connect to host nas port 22: Connection refused"], "nas", 255)
    assert down is not None and down.kind == "retryable"
    lost = ssh_problem(
        ["rsync: connection unexpectedly closed (1234 bytes received so far) [sender]"], "nas", 12
    )
    assert lost is not None and lost.kind == "retryable"
    assert ssh_problem(["some other error"], "nas", 23) is None
