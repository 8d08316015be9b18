"""The real rclone through the executor: local copies and an S3 server (moto) on 127.0.0.1, and the
ways a backup goes wrong (missing source, unwritable or full destination, a server that dies)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import boto3
import pytest

from backupplan.engines import ENGINES, Difference, TransferSpec
from backupplan.process.execute import ChildIdentity
from tests.engines.conftest import command_line, transfer, verify
from tests.servers import MotoS3
from tests.trees import AWKWARD_NAMES, big_file, build, describe

RCLONE = ENGINES["rclone"]


def bucket_contents(server: MotoS3, bucket: str) -> dict[str, str]:
    """Read the bucket with boto3 (not rclone): key → md5 of the object's bytes."""
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",
    )
    found = {}
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found[item["Key"]] = hashlib.md5(body).hexdigest()
    return found


def local_contents(root: Path) -> dict[str, str]:
    return {
        os.fsdecode(name): hashlib.md5((root / os.fsdecode(name)).read_bytes()).hexdigest()
        for name in describe(root)
    }


def test_local_copy_is_identical_even_with_awkward_names(tmp_path: Path) -> None:
    source = build(tmp_path / "source", AWKWARD_NAMES)
    destination = tmp_path / "backup"
    done = transfer(RCLONE, TransferSpec(f"{source}/", str(destination)))
    assert done.outcome.kind == "ok", done.outcome
    assert describe(destination) == describe(source)
    assert (done.stats.files_transferred, done.stats.errors) == (len(AWKWARD_NAMES), 0)
    assert done.progress and done.progress[-1].bytes_done == sum(map(len, AWKWARD_NAMES.values()))
    again = transfer(RCLONE, TransferSpec(f"{source}/", str(destination)))
    assert (again.outcome.kind, again.stats.files_transferred) == ("ok", 0)


def test_sync_mirrors_deletions_and_filters(tmp_path: Path) -> None:
    source = build(tmp_path / "source", {b"keep.txt": b"k", b"cache.tmp": b"c", b"important.tmp": b"i"})
    destination = build(tmp_path / "backup", {b"gone.txt": b"old", b"old.tmp": b"excluded, kept"})
    spec = TransferSpec(
        f"{source}/", str(destination), delete=True, exclude=("*.tmp",), include=("important.tmp",)
    )
    done = transfer(RCLONE, spec)
    assert done.outcome.kind == "ok", done.outcome
    assert sorted(describe(destination)) == [b"important.tmp", b"keep.txt", b"old.tmp"]
    assert done.stats.deletes == 1


def test_missing_source_fails(tmp_path: Path) -> None:
    done = transfer(RCLONE, TransferSpec(f"{tmp_path}/no-such-folder/", str(tmp_path / "backup")))
    assert (done.result.exit_code, done.outcome.kind) == (3, "fatal")
    assert "directory not found" in done.outcome.message


@pytest.mark.slow
def test_unwritable_destination_fails(tmp_path: Path, immutable_folder: Path) -> None:
    source = build(tmp_path / "source", {b"a.txt": b"a"})
    done = transfer(RCLONE, TransferSpec(f"{source}/", f"{immutable_folder}/"))
    assert (done.result.exit_code, done.outcome.kind) == (1, "fatal")
    assert "operation not permitted" in done.outcome.message


@pytest.mark.slow
def test_full_disk_fails_and_is_not_retried(tmp_path: Path, tiny_disk: Path) -> None:
    source = tmp_path / "source"
    big_file(source / "a.bin", 3_000_000)
    big_file(source / "b.bin", 3_000_000)
    done = transfer(RCLONE, TransferSpec(f"{source}/", f"{tiny_disk}/backup/"))
    assert (done.result.exit_code, done.outcome.kind) == (1, "fatal")
    assert "disk space" in done.outcome.message or "no space left" in done.outcome.message


@pytest.mark.slow
def test_bandwidth_limit_is_honoured(tmp_path: Path) -> None:
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    limit = 10 * 1024 * 1024
    done = transfer(RCLONE, TransferSpec(f"{source}/", str(tmp_path / "backup"), bandwidth=limit))
    assert done.outcome.kind == "ok"
    expected = 20_000_000 / limit
    assert 0.8 * expected <= done.result.duration <= 1.2 * expected, done.result.duration


@pytest.mark.slow
def test_timeout_stops_rclone(tmp_path: Path) -> None:
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    spec = TransferSpec(f"{source}/", str(tmp_path / "backup"), bandwidth=4 * 1024 * 1024)
    done = transfer(RCLONE, spec, timeout=1.0, stop_grace=5)
    assert done.result.timed_out and done.outcome.stopped == "timeout"
    assert done.result.duration < 3


@pytest.mark.slow
def test_copy_to_s3_with_credentials_only_in_the_environment(tmp_path: Path, moto_s3: MotoS3) -> None:
    names = {
        b"plain.txt": b"plain",
        b"with space.txt": b"space",
        b"-rf": b"dash",
        b"sub dir/x.bin": b"x" * 9000,
    }
    source = build(tmp_path / "source", names)
    command_lines: list[bytes] = []

    def look(identity: ChildIdentity) -> None:
        command_lines.append(command_line(identity, "rclone"))

    # AWS_CA_BUNDLE in the environment would break every S3 request: the engine removes it.
    base = {**os.environ, "AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}
    spec = TransferSpec(f"{source}/", "moto:backups/photos", env=moto_s3.env())
    done = transfer(RCLONE, spec, base=base, on_start=look)
    assert done.outcome.kind == "ok", done.outcome
    assert bucket_contents(moto_s3, "backups") == {
        f"photos/{key}": value for key, value in local_contents(source).items()
    }
    assert command_lines and all(
        line.startswith(b"rclone\0") and b"test-secret" not in line for line in command_lines
    )
    differences, outcome = verify(RCLONE, spec, "checksum")
    assert (differences, outcome.kind) == ([], "ok")


@pytest.mark.slow
def test_server_dying_mid_transfer_is_retryable_and_a_rerun_succeeds(tmp_path: Path, moto_s3: MotoS3) -> None:
    source = tmp_path / "source"
    big_file(source / "big.bin", 20_000_000)
    build(source, {b"small.txt": b"small"})
    spec = TransferSpec(f"{source}/", "moto:backups/run", env=moto_s3.env(), bandwidth=10 * 1024 * 1024)

    def kill_soon(identity: ChildIdentity) -> None:
        threading.Timer(0.8, moto_s3.kill).start()

    broken = transfer(RCLONE, spec, on_start=kill_soon)
    assert (broken.result.exit_code, broken.outcome.kind) == (1, "retryable"), broken.outcome
    assert "connection refused" in broken.outcome.message or "connection reset" in broken.outcome.message
    down = transfer(RCLONE, spec)
    assert (down.result.exit_code, down.outcome.kind) == (1, "retryable")
    moto_s3.start()
    again = transfer(RCLONE, TransferSpec(f"{source}/", "moto:backups/run", env=moto_s3.env()))
    assert again.outcome.kind == "ok", again.outcome
    assert bucket_contents(moto_s3, "backups") == {
        f"run/{key}": value for key, value in local_contents(source).items()
    }


def test_verification_lists_every_difference(tmp_path: Path) -> None:
    source = build(tmp_path / "source", {b"same.txt": b"same", b"edited.txt": b"aaaa", b"gone.txt": b"g"})
    destination = tmp_path / "backup"
    assert transfer(RCLONE, TransferSpec(f"{source}/", str(destination))).outcome.kind == "ok"
    mirror = TransferSpec(f"{source}/", str(destination), delete=True)
    assert verify(RCLONE, mirror, "checksum")[1].kind == "ok"
    (destination / "edited.txt").write_bytes(b"bbbb")  # same size: only a checksum sees it
    os.unlink(destination / "gone.txt")
    (destination / "stray.txt").write_bytes(b"x")
    differences, outcome = verify(RCLONE, mirror, "quick")
    assert sorted(differences, key=str) == [
        Difference("extra", "stray.txt"),
        Difference("missing", "gone.txt"),
    ]
    assert outcome.kind == "fatal"
    differences, _ = verify(RCLONE, mirror, "checksum")
    assert sorted(differences, key=str) == [
        Difference("changed", "edited.txt"),
        Difference("extra", "stray.txt"),
        Difference("missing", "gone.txt"),
    ]
    copy = TransferSpec(f"{source}/", str(destination))  # a copy job expects extra files
    assert sorted(verify(RCLONE, copy, "quick")[0], key=str) == [Difference("missing", "gone.txt")]
