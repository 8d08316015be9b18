"""rclone jobs to real servers on 127.0.0.1, each remote defined in the job's env (docs/remote.md):
SFTP on the OpenSSH server of tests/sshd.py, WebDAV (`rclone serve webdav`), and an encrypted
`crypt` remote layered on the S3 server (moto): backup, restore round trip, and the failures
worded as for rsync over ssh."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.runner.helpers import of_type
from tests.servers import MotoS3, WebDav
from tests.sshd import Sshd
from tests.trees import build, describe

pytestmark = pytest.mark.slow

FILES = {b"notes.txt": b"notes\n", b"photos/beach.jpg": b"\xff\xd8jpeg", b"with space.txt": b"s\n"}


SECRET = ("PASS", "PASSWORD", "SECRET_ACCESS_KEY", "KEY_FILE")


def rclone_plan(tmp_path: Path, destination: str, env: dict[str, str], extra: str = "") -> Path:
    """A plan with one rclone job `docs` whose remote is defined by `env`: the secrets as ${VAR}
    (from the environment, never shown), the rest written out, as docs/remote.md advises."""
    lines = "".join(
        f"      {key}: '${{{key}}}'\n" if key.endswith(SECRET) else f"      {key}: '{value}'\n"
        for key, value in env.items()
    )
    plan = tmp_path / "backups.yaml"
    plan.write_text(
        "version: 1\nsettings:\n  timezone: UTC\n  retries: {attempts: 1}\njobs:\n"
        f"  docs:\n    engine: rclone\n    source: src\n    destination: {destination}\n"
        f"    env:\n{lines}{extra}"
    )
    return plan


def last(tmp_path: Path) -> dict[str, Any]:
    return of_type(tmp_path / ".backupplan", "run.finished")[-1]["data"]


def round_trip(tmp_path: Path, run_backupplan, plan: Path, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    done = run_backupplan(["run", "--plan", str(plan), "docs"], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert last(tmp_path)["changes"] == {"added": 3, "changed": 0, "deleted": 0}
    back = tmp_path / "back"
    restored = run_backupplan(["restore", "--plan", str(plan), "docs", "--to", str(back)], env=env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert {path: entry[1:3] for path, entry in describe(back).items()} == {
        path: entry[1:3] for path, entry in describe(tmp_path / "src").items()
    }


def sftp_env(server: Sshd) -> dict[str, str]:
    return {
        "RCLONE_CONFIG_BOX_TYPE": "sftp",
        "RCLONE_CONFIG_BOX_HOST": "127.0.0.1",
        "RCLONE_CONFIG_BOX_PORT": str(server.port),
        "RCLONE_CONFIG_BOX_USER": server.user,
        "RCLONE_CONFIG_BOX_KEY_FILE": str(server.identity),
        "RCLONE_CONFIG_BOX_KNOWN_HOSTS_FILE": str(server.known_hosts),
    }


def test_sftp_round_trip_and_failures(tmp_path: Path, sshd: Sshd, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    sshd.trust_host_key()
    env = sftp_env(sshd)
    plan = rclone_plan(tmp_path, f"box:{tmp_path}/remote", env)
    round_trip(tmp_path, run_backupplan, plan, env)
    assert describe(tmp_path / "remote") == describe(tmp_path / "src")
    sshd.refuse_key()
    refused = run_backupplan(["run", "--plan", str(plan), "docs"], env=env)
    assert refused.returncode == 1
    assert "the server refused the credentials" in last(tmp_path)["reason"]
    sshd.stop()
    down = run_backupplan(["run", "--plan", str(plan), "docs"], env=env)
    assert down.returncode == 1
    assert "the server cannot be reached" in last(tmp_path)["reason"]


def test_webdav_round_trip(tmp_path: Path, webdav: WebDav, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", FILES)
    env = webdav.env("DAV")
    plan = rclone_plan(tmp_path, "DAV:backups/docs", env)
    round_trip(tmp_path, run_backupplan, plan, env)
    assert (webdav.root / "backups" / "docs" / "notes.txt").read_bytes() == b"notes\n"
    log = next((tmp_path / ".backupplan" / "logs" / "docs").glob("*.log")).read_text()
    assert webdav.password not in log
    webdav.kill()
    down = run_backupplan(["run", "--plan", str(plan), "docs"], env=env)
    assert down.returncode == 1 and "the server cannot be reached" in last(tmp_path)["reason"]


def test_an_encrypted_copy_on_s3(tmp_path: Path, moto_s3: MotoS3, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    """The recipe of docs/remote.md: a crypt remote over an S3 remote, both defined in env,
    passwords obscured as rclone needs them and passed as ${VAR}."""
    build(tmp_path / "src", FILES)
    obscured = subprocess.run(
        ["rclone", "obscure", "CANARY-passphrase"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **moto_s3.env(),
        "RCLONE_CONFIG_VAULT_TYPE": "crypt",
        "RCLONE_CONFIG_VAULT_REMOTE": "moto:backups/encrypted",
        "RCLONE_CONFIG_VAULT_PASSWORD": obscured,
    }
    plain = {**{key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}, **env}
    subprocess.run(["rclone", "mkdir", "moto:backups"], env=plain, check=True, capture_output=True)
    plan = rclone_plan(tmp_path, "vault:docs", env)
    round_trip(tmp_path, run_backupplan, plan, env)
    listed = subprocess.run(
        ["rclone", "lsjson", "-R", "moto:backups/encrypted"],
        env=plain,
        capture_output=True,
        text=True,
        check=True,
    )
    names = [entry["Path"] for entry in json.loads(listed.stdout)]
    assert names and not any("notes" in name or "beach" in name for name in names)  # names encrypted
    state = tmp_path / ".backupplan"
    for path in state.rglob("*"):
        if path.is_file():
            assert obscured.encode() not in path.read_bytes(), path
    site = (tmp_path / "site" / "status.json").read_text()
    assert obscured not in site
