"""The rclone engine's pure parts: argv, environment, parsers (against captured samples), exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupplan.engines import ENGINES, Difference, Progress, TransferSpec, TransferStats
from backupplan.engines.rclone import EXIT_CODES, RcloneParser, RcloneVerifyParser
from backupplan.errors import EngineError

SAMPLES = Path("/work/shared/bench/samples")
RCLONE = ENGINES["rclone"]
COMMON = ("--use-json-log", "--retries=1", "--low-level-retries=3")
LOGGING = ("--stats=1s", "--stats-log-level=NOTICE")


def sample_records(name: str) -> list[bytes]:
    raw = (SAMPLES / name).read_bytes()
    return [line for line in raw.split(b"\n") if line and not line.startswith(b"#")]


def test_copy_argv() -> None:
    spec = TransferSpec(source="/data/photos/", destination="s3remote:bucket/photos")
    assert RCLONE.argv(spec) == (
        "rclone",
        "copy",
        *COMMON,
        "--contimeout=30s",
        "--timeout=300s",
        *LOGGING,
        "--",
        "/data/photos/",
        "s3remote:bucket/photos",
    )


def test_sync_with_every_option() -> None:
    spec = TransferSpec(
        source="/data/",
        destination="b2:bucket/data",
        delete=True,
        exclude=("*.tmp", "--delete-excluded"),
        include=("keep.tmp",),
        bandwidth=5_000_000,
        extra_args=("--transfers=8",),
        dry_run=True,
        checksum=True,
        io_timeout=60,
        connect_timeout=None,
    )
    assert RCLONE.argv(spec) == (
        "rclone",
        "sync",
        *COMMON,
        "--timeout=60s",
        "--checksum",
        "--filter=+ keep.tmp",
        "--filter=- *.tmp",
        "--filter=- --delete-excluded",  # a pattern that looks like an option stays a pattern
        *LOGGING,
        "--bwlimit=5000000B",
        "--dry-run",
        "--transfers=8",
        "--",
        "/data/",
        "b2:bucket/data",
    )


def test_local_operands_that_look_like_options_are_made_paths() -> None:
    assert RCLONE.argv(TransferSpec("-rf", "remote:x"))[-3:] == ("--", "./-rf", "remote:x")


def test_credentials_in_a_connection_string_are_refused() -> None:
    spec = TransferSpec("/data/", ":s3,provider=Other,secret_access_key=hunter2:bucket/data")
    with pytest.raises(EngineError, match=r"sets secret_access_key on rclone's command line") as caught:
        RCLONE.argv(spec)
    assert "hunter2" not in str(caught.value)
    assert "RCLONE_CONFIG_<NAME>_SECRET_ACCESS_KEY" in str(caught.value)
    harmless = TransferSpec("/data/", ":s3,provider=Other,endpoint='http://127.0.0.1:9000':bucket")
    assert RCLONE.argv(harmless)[-1] == ":s3,provider=Other,endpoint='http://127.0.0.1:9000':bucket"


def test_snapshots_are_refused() -> None:
    with pytest.raises(EngineError, match="use the rsync engine"):
        RCLONE.argv(TransferSpec("/a/", "r:b", link_dest="../previous"))


def test_verify_argv() -> None:
    copy = TransferSpec("/data/", "r:bucket", exclude=("*.tmp",))
    assert RCLONE.verify_argv(copy, "quick") == (
        "rclone",
        "check",
        *COMMON,
        "--contimeout=30s",
        "--timeout=300s",
        "--filter=- *.tmp",
        "--combined=-",
        "--one-way",  # a copy job leaves extra files at the destination on purpose
        "--size-only",
        "--",
        "/data/",
        "r:bucket",
    )
    mirror = TransferSpec("/data/", "r:bucket", delete=True)
    argv = RCLONE.verify_argv(mirror, "checksum")
    assert "--one-way" not in argv and "--size-only" not in argv


def test_environment_drops_aws_ca_bundle_and_adds_the_job_env() -> None:
    spec = TransferSpec("/a/", "moto:b", env={"RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": "k"})
    base = {"PATH": "/usr/bin", "AWS_CA_BUNDLE": "/etc/ssl/ca.pem", "SSL_CERT_FILE": "/etc/ssl/ca.pem"}
    assert RCLONE.environment(spec, base) == {
        "PATH": "/usr/bin",
        "SSL_CERT_FILE": "/etc/ssl/ca.pem",
        "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": "k",
    }
    only_job = TransferSpec("/a/", "moto:b", env={"AWS_CA_BUNDLE": "/x"})
    assert "AWS_CA_BUNDLE" not in RCLONE.environment(only_job, {})


@pytest.mark.parametrize("sample", ["rclone_json_stats.txt", "rclone_json_stats_only.txt"])
def test_progress_from_stats_lines_at_either_level(sample: str) -> None:
    parser = RcloneParser()
    samples = [parser.feed(record, "stderr") for record in sample_records(sample)]
    assert parser.last_was_progress
    assert [s.files_done for s in samples if s] == (
        [689, 1286, 2000] if "only" not in sample else [1075, 1819, 2000]
    )
    final = samples[-1]
    assert final is not None
    assert (final.bytes_done, final.total_bytes, final.percent, final.eta, final.total_files) == (
        52176233,
        52176233,
        100.0,
        0.0,
        2000,
    )
    assert samples[0] is not None and samples[0].eta is None and samples[0].rate == 0.0
    assert parser.stats() == TransferStats(
        bytes_transferred=52176233,
        files_transferred=2000,
        total_bytes=52176233,
        total_files=None,  # rclone's totalTransfers is what it copied, not the files there are
        checks=0,
        deletes=0,
        errors=0,
    )


def test_per_file_lines_are_skipped_cheaply() -> None:
    parser = RcloneParser()
    for record in sample_records("rclone_json_log.txt"):
        assert parser.feed(record, "stderr") is None
        assert not parser.last_was_progress
    assert parser.stats().error_messages == () and parser.stats().warnings == ()


def test_errors_from_json_and_plain_lines() -> None:
    parser = RcloneParser()
    records = [
        b'{"level":"error","msg":"Failed to copy: RequestError: send request failed\\ncaused by: Put '
        b'\\"http://127.0.0.1:1/b/a.bin\\": dial tcp 127.0.0.1:1: connect: connection refused",'
        b'"object":"a.bin","objectType":"*local.Object","source":"operations/operations.go:538"}',
        b'{"level":"warning","msg":"Can\'t follow symlink without -L/--copy-links","object":"link"}',
        b'{"level":"warning","msg":"\\nTransferred: 0 B","stats":{"bytes":0,"errors":1,"transfers":0,'
        b'"totalBytes":0,"totalTransfers":1,"checks":0,"deletes":0,"retryError":true}}',
        b"2026/11/28 13:06:06 Failed to copy: RequestError: send request failed",
        b'caused by: Put "http://127.0.0.1:1/b/a.bin": dial tcp 127.0.0.1:1: connect: connection refused',
        b"not json {",
    ]
    for record in records:
        parser.feed(record, "stderr")
    stats = parser.stats()
    assert stats.errors == 1
    assert stats.error_messages == (
        "a.bin: Failed to copy: RequestError: send request failed caused by: "
        'Put "http://127.0.0.1:1/b/a.bin": dial tcp 127.0.0.1:1: connect: connection refused',
        "Failed to copy: RequestError: send request failed",
        'caused by: Put "http://127.0.0.1:1/b/a.bin": dial tcp 127.0.0.1:1: connect: connection refused',
        "not json {",
    )
    assert stats.warnings == ("link: Can't follow symlink without -L/--copy-links",)
    assert RCLONE.classify(1, None, errors=stats.error_messages).kind == "retryable"


def test_verify_parser_reads_combined_output() -> None:
    parser = RcloneVerifyParser()
    for line in (b"= same", b"+ only in source", b"- only in destination", b"* differs", b"! unreadable"):
        parser.feed(line, "stdout")
    parser.feed(b'{"level":"error","msg":"sizes differ","object":"differs"}', "stderr")
    parser.feed(b'{"level":"notice","msg":"1 differences found"}', "stderr")
    assert parser.differences() == [
        Difference("missing", "only in source"),
        Difference("extra", "only in destination"),
        Difference("changed", "differs"),
        Difference("error", "unreadable"),
    ]
    assert parser.errors() == ["differs: sizes differ"]
    outcome = RCLONE.verify_outcome(1, None, parser)
    assert outcome.kind == "fatal"
    assert outcome.message == (
        "4 differences between source and destination (1 changed, 1 error, 1 extra, 1 missing), "
        "e.g. only in source"
    )


def test_verify_outcome_without_differences() -> None:
    clean = RcloneVerifyParser()
    assert RCLONE.verify_outcome(0, None, clean).kind == "ok"
    broken = RcloneVerifyParser()
    broken.feed(
        b"2026/11/28 13:05:53 Failed to create file system: didn't find section in config file", "stderr"
    )
    outcome = RCLONE.verify_outcome(1, None, broken)
    assert (outcome.kind, outcome.message) == (
        "fatal",
        "exit 1: the transfer failed: Failed to create file system: didn't find section in config file",
    )


@pytest.mark.parametrize(
    ("code", "errors", "kind"),
    [
        (0, [], "ok"),
        (1, ["dial tcp 127.0.0.1:9: connect: connection refused"], "retryable"),
        (1, ["Failed to copy: write /mnt/a: no space left on device"], "fatal"),
        (1, ["preallocate: file too big for remaining disk space"], "fatal"),
        (1, ["open /b/a.bin: operation not permitted"], "fatal"),
        (1, ['Failed to create file system for "x:": didn\'t find section in config file'], "fatal"),
        (1, [], "fatal"),
        (2, ["read: connection reset by peer"], "retryable"),
        (2, ["unknown flag: --nope"], "fatal"),
        (3, [], "fatal"),
        (4, [], "fatal"),
        (5, [], "retryable"),
        (5, ["InvalidAccessKeyId: The AWS access key Id you provided does not exist"], "fatal"),
        (6, [], "fatal"),
        (7, [], "fatal"),
        (8, [], "fatal"),
        (9, [], "warning"),
        (10, [], "fatal"),
        (11, [], "fatal"),
    ],
)
def test_exit_code_table(code: int, errors: list[str], kind: str) -> None:
    assert RCLONE.classify(code, None, errors=errors).kind == kind


def test_signals_are_failures() -> None:
    outcome = RCLONE.classify(None, 15)
    assert (outcome.kind, outcome.message) == ("fatal", "rclone was killed by signal SIGTERM")


def test_table_documents_every_code() -> None:
    assert sorted(EXIT_CODES) == list(range(11))
    assert all(row.meaning for row in EXIT_CODES.values())


def test_progress_status_fields() -> None:
    sample = Progress(
        bytes_done=5, total_bytes=10, percent=50.0, rate=1.0, eta=5.0, files_done=1, total_files=2
    )
    assert sample.as_status() == {
        "percent": 50.0,
        "bytes": 5,
        "total_bytes": 10,
        "rate": 1.0,
        "eta": 5.0,
        "files": 1,
    }
