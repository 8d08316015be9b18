"""The rsync engine's pure parts: argv, environment, parsers (against captured samples), exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupplan.engines import ENGINES, Difference, Progress, TransferSpec
from backupplan.engines.rsync import EXIT_CODES
from backupplan.engines.rsync_output import RsyncParser, RsyncVerifyParser, unescape

SAMPLES = Path("/work/shared/bench/samples")
RSYNC = ENGINES["rsync"]
COMMON = ("--archive", "--numeric-ids", "--partial-dir=.backupplan-partial")  # a remote destination


def local(destination: str, partial: str = ".backupplan-partial") -> tuple[str, ...]:
    """The options every copy into an absolute local folder starts with."""
    return ("--archive", "--numeric-ids", f"--partial-dir={destination}/{partial}", f"--exclude=/{partial}/")


TRANSFER = ("--no-inc-recursive", "--info=progress2", "--stats")


def sample_records(name: str) -> list[bytes]:
    """The records of a captured sample, without its '#' header lines."""
    raw = (SAMPLES / name).read_bytes()
    return [line for line in raw.replace(b"\r", b"\n").split(b"\n") if line and not line.startswith(b"#")]


def test_local_copy_argv() -> None:
    spec = TransferSpec(source="/data/photos/", destination="/mnt/backup/photos")
    assert RSYNC.argv(spec) == (
        "rsync",
        *local("/mnt/backup/photos"),
        "--timeout=300",
        *TRANSFER,
        "--",
        "/data/photos/",
        "/mnt/backup/photos",
    )


def test_every_option_in_order() -> None:
    spec = TransferSpec(
        source="/data/",
        destination="/mnt/backup/",
        delete=True,
        exclude=("*.tmp", "--delete-after"),
        include=("keep.tmp",),
        bandwidth=5 * 1024 * 1024,
        extra_args=("--one-file-system",),
        dry_run=True,
        checksum=True,
        link_dest="../2024-01-01",
        io_timeout=60,
        partial_dir=".partial",
    )
    assert RSYNC.argv(spec) == (
        "rsync",
        *local("/mnt/backup", ".partial"),
        "--delete",
        "--checksum",
        "--bwlimit=5120",
        "--timeout=60",
        "--include=keep.tmp",
        # a pattern that looks like an option stays a pattern: it is glued to --exclude=
        "--exclude=*.tmp",
        "--exclude=--delete-after",
        *TRANSFER,
        "--link-dest=../2024-01-01",
        "--dry-run",
        "--one-file-system",
        "--",
        "/data/",
        "/mnt/backup/",
    )


def test_daemon_destination_gets_connect_timeout_protected_names_and_parents() -> None:
    spec = TransferSpec(
        source="/data/",
        destination="rsync://backup@nas.local/backup/my photos/",
        connect_timeout=15,
        io_timeout=None,
        bandwidth=1000,
    )
    assert RSYNC.argv(spec) == (
        "rsync",
        *COMMON,
        "--bwlimit=1",
        "--contimeout=15",
        "--protect-args",
        "--mkpath",
        *TRANSFER,
        "--",
        "/data/",
        "rsync://backup@nas.local/backup/my photos/",
    )


def test_ssh_destination_and_daemon_colon_form() -> None:
    ssh = TransferSpec(source="/data/", destination="user@host:/srv/backup dir/")
    assert RSYNC.argv(ssh) == (
        "rsync",
        *COMMON,
        "--timeout=300",
        "--protect-args",
        "--mkpath",
        *TRANSFER,
        "--",
        "/data/",
        "user@host:/srv/backup dir/",
    )  # no --contimeout: rsync refuses it without a daemon
    daemon = TransferSpec(source="nas::backup/photos/", destination="/restore/")
    assert RSYNC.argv(daemon) == (
        "rsync",
        *local("/restore"),
        "--timeout=300",
        "--contimeout=30",
        "--protect-args",
        *TRANSFER,
        "--",
        "nas::backup/photos/",
        "/restore/",
    )  # no --mkpath: a local destination's parents are never created (is the disk mounted?)


def test_create_parents_can_be_forced_either_way() -> None:
    assert "--mkpath" in RSYNC.argv(TransferSpec("/a/", "/b/c", create_parents=True))
    assert "--mkpath" not in RSYNC.argv(TransferSpec("/a/", "host:/b", create_parents=False))


def test_a_relative_local_destination_keeps_a_relative_partial_folder() -> None:
    # rsync reads a relative --partial-dir against each destination folder, not the working folder.
    assert RSYNC.argv(TransferSpec("/data/", "backup/"))[1:5] == (*COMMON, "--timeout=300")


def test_local_operands_that_look_like_options_are_made_paths() -> None:
    argv = RSYNC.argv(TransferSpec(source="-rf/", destination="--delete"))
    assert argv[-3:] == ("--", "./-rf/", "./--delete")


def test_verify_argv_itemizes_a_dry_run() -> None:
    spec = TransferSpec(source="/data/", destination="/backup/", delete=True, exclude=("*.tmp",))
    assert RSYNC.verify_argv(spec, "checksum") == (
        "rsync",
        *local("/backup"),
        "--delete",
        "--timeout=300",
        "--exclude=*.tmp",
        "--checksum",
        "--dry-run",
        "--itemize-changes",
        "--",
        "/data/",
        "/backup/",
    )
    assert "--checksum" not in RSYNC.verify_argv(spec, "quick")


def test_spec_is_checked() -> None:
    with pytest.raises(ValueError, match="partial_dir"):
        TransferSpec("/a/", "/b/", partial_dir="/tmp/partial")
    with pytest.raises(ValueError, match="partial_dir"):
        TransferSpec("/a/", "/b/", partial_dir="../x")
    with pytest.raises(ValueError, match="not an option"):
        TransferSpec("/a/", "/b/", extra_args=("oops",))
    with pytest.raises(ValueError, match="bandwidth"):
        TransferSpec("/a/", "/b/", bandwidth=-1)


def test_secrets_in_the_spec_do_not_show_in_its_repr() -> None:
    spec = TransferSpec("/a/", "rsync://u@h/m/", env={"RSYNC_PASSWORD": "hunter2-secret"})
    assert "hunter2" not in repr(spec)


def test_environment_adds_the_job_env() -> None:
    spec = TransferSpec("/a/", "rsync://u@h/m/", env={"RSYNC_PASSWORD": "pw"})
    assert RSYNC.environment(spec, {"PATH": "/usr/bin", "RSYNC_PASSWORD": "old"}) == {
        "PATH": "/usr/bin",
        "RSYNC_PASSWORD": "pw",
    }


def test_progress_records_from_the_captured_sample() -> None:
    parser = RsyncParser(interval=0)
    samples = [parser.feed(record) for record in sample_records("rsync_progress2.txt")]
    assert parser.last_was_progress
    assert samples[0] == Progress(bytes_done=154, percent=0.0, rate=0.0, eta=0.0)
    assert samples[2] == Progress(
        bytes_done=2063, percent=0.0, rate=1.82 * 1024**2, eta=0.0, files_done=2, total_files=1020
    )
    assert samples[-1] == Progress(
        bytes_done=233936, percent=0.0, rate=13.11 * 1024**2, eta=0.0, files_done=19, total_files=1030
    )
    assert all(sample is not None for sample in samples)


def test_the_raw_sample_splits_into_the_same_records() -> None:
    raw = (SAMPLES / "rsync_progress2.raw").read_bytes()
    records = [record for record in raw.replace(b"\r", b"\n").split(b"\n") if record]
    parser = RsyncParser(interval=0)
    parsed = [parser.feed(record) is not None for record in records]
    # The capture stops in the middle of its last record: that one cannot be read, the rest can.
    assert records[-1] == b"        224,792   0%   12."
    assert parsed == [True] * (len(records) - 1) + [False]


def test_progress_is_throttled_but_the_latest_record_is_kept() -> None:
    parser = RsyncParser(interval=3600)
    records = sample_records("rsync_progress2.txt")
    results = [parser.feed(record) for record in records]
    assert results[0] is not None and results[1:] == [None] * (len(records) - 1)
    assert parser.last_was_progress
    assert parser.progress() == Progress(
        bytes_done=233936, percent=0.0, rate=13.11 * 1024**2, eta=0.0, files_done=19, total_files=1030
    )


def test_unknown_eta_and_big_numbers() -> None:
    parser = RsyncParser(interval=0)
    sample = parser.feed(b"  1,234,567,890,123  42%    1.10GB/s  ??:??:??  (xfr#7, to-chk=3/10)")
    assert sample == Progress(
        bytes_done=1234567890123, percent=42.0, rate=1.10 * 1024**3, eta=None, files_done=7, total_files=10
    )
    assert parser.feed(b"     10   1%  100.00kB/s  123:04:05") == Progress(
        bytes_done=10, percent=1.0, rate=102400.0, eta=123 * 3600 + 4 * 60 + 5.0
    )


def test_stats_block_from_the_captured_sample() -> None:
    parser = RsyncParser(interval=0)
    for record in sample_records("rsync_stats.txt"):
        assert parser.feed(record) is None
        assert not parser.last_was_progress
    stats = parser.stats()
    assert (stats.bytes_transferred, stats.files_transferred, stats.total_bytes, stats.total_files) == (
        52176233,
        2000,
        52176233,
        2000,
    )
    assert (stats.deletes, stats.errors, stats.checks) == (0, 0, None)


def test_no_change_sample() -> None:
    parser = RsyncParser(interval=0)
    for record in sample_records("rsync_progress2_nochange.txt"):
        parser.feed(record)
    stats = parser.stats()
    assert stats.files_transferred == 0 and stats.bytes_transferred == 0
    assert parser.progress() is not None and parser.progress().files_done == 0  # type: ignore[union-attr]


def test_error_lines_vanished_files_and_warnings() -> None:
    parser = RsyncParser(interval=0)
    for line in (
        b'rsync: [sender] change_dir "/nope" failed: No such file or directory (2)',
        b'file has vanished: "/data/a b.txt"',
        b"rsync warning: some files vanished before they could be transferred (code 24) at main.c(1338)",
        b"--link-dest arg does not exist: /backup/previous",
        b"rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338)",
    ):
        assert parser.feed(line, "stderr") is None
    stats = parser.stats()
    assert stats.vanished == ("/data/a b.txt",)
    assert stats.warnings == (
        "rsync warning: some files vanished before they could be transferred (code 24) at main.c(1338)",
        "--link-dest arg does not exist: /backup/previous",
    )
    assert stats.error_messages == (
        'rsync: [sender] change_dir "/nope" failed: No such file or directory (2)',
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338)",
    )
    assert stats.errors == 1  # the summary line repeats the exit code, it is no extra error


def test_verify_parser_reads_the_itemized_sample() -> None:
    parser = RsyncVerifyParser()
    for record in sample_records("rsync_itemize_mutate.txt"):
        parser.feed(record)
    differences = parser.differences()
    assert differences[:6] == [
        Difference("extra", "d0_00/d1_01/f000596.c"),
        Difference("extra", "d0_01/d1_01/d2_00/f000065.c"),
        Difference("extra", "d0_02/d1_01/d2_00/f000444.cfg"),
        Difference("metadata", "d0_00/d1_01/"),
        Difference("metadata", "d0_00/d1_04/d2_03/"),
        Difference("missing", "d0_00/d1_04/d2_03/n001_00004.py"),
    ]
    assert Difference("changed", "d0_00/d1_04/d2_04/f000719.log") in differences
    assert len(differences) == 20


def test_escaped_names_come_back_as_their_bytes() -> None:
    assert unescape(rb"new\#012line \#377.txt") == b"new\nline \xff.txt"
    parser = RsyncVerifyParser()
    parser.feed(rb">fc.t...... sub dir/bad\#377name")
    assert parser.differences() == [Difference("changed", "sub dir/bad\udcffname")]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (0, "ok"),
        (10, "retryable"),
        (12, "retryable"),
        (30, "retryable"),
        (35, "retryable"),
        (23, "fatal"),
        (11, "fatal"),
        (1, "fatal"),
        (3, "fatal"),
        (20, "fatal"),
        (25, "fatal"),
        (5, "fatal"),
        (255, "fatal"),
    ],
)
def test_exit_code_table(code: int, kind: str) -> None:
    assert RSYNC.classify(code, None).kind == kind


def test_exit_23_says_what_failed() -> None:
    outcome = RSYNC.classify(23, None, errors=['rsync: [sender] change_dir "/nope" failed: No such file (2)'])
    assert outcome.kind == "fatal"
    assert outcome.message == (
        "exit 23: some files could not be transferred (nothing may have been written): "
        'rsync: [sender] change_dir "/nope" failed: No such file (2)'
    )
    assert "unwritable destination" in outcome.hint


def test_vanished_files_are_a_warning_only_when_allowed() -> None:
    assert RSYNC.classify(24, None, allow_vanished=True).kind == "warning"
    refused = RSYNC.classify(24, None, allow_vanished=False)
    assert (
        refused.kind == "fatal"
        and refused.message == "exit 24: some source files vanished during the transfer"
    )


def test_unknown_codes_and_signals_are_failures() -> None:
    assert RSYNC.classify(99, None).message == "exit 99: rsync ended with an unknown exit code"
    killed = RSYNC.classify(None, 9)
    assert (killed.kind, killed.message, killed.signal) == ("fatal", "rsync was killed by signal SIGKILL", 9)


def test_a_network_code_with_a_full_disk_is_not_retried() -> None:
    outcome = RSYNC.classify(
        12, None, errors=['rsync: [receiver] write failed on "/m/a": No space left on device (28)']
    )
    assert outcome.kind == "fatal"
    assert "No space left" in outcome.message


def test_daemon_refusal_depends_on_the_reason() -> None:
    busy = RSYNC.classify(5, None, errors=["@ERROR: max connections (2) reached -- try again later"])
    assert busy.kind == "retryable"
    assert RSYNC.classify(5, None, errors=["@ERROR: auth failed on module backup"]).kind == "fatal"
    assert RSYNC.classify(
        255, None, errors=["ssh: connect to host nas port 22: Connection refused"]
    ).kind == ("retryable")
    assert RSYNC.classify(255, None, errors=["Host key verification failed."]).kind == "fatal"


def test_table_documents_every_code() -> None:
    assert all(row.meaning for row in EXIT_CODES.values())
    assert all(row.hint for code, row in EXIT_CODES.items() if code != 0)


def test_metadata_only_differences_are_a_warning() -> None:
    parser = RsyncVerifyParser()
    parser.feed(b".d..t...... ./")
    parser.feed(b".f...p..... script.sh")
    outcome = RSYNC.verify_outcome(0, None, parser)
    assert (outcome.kind, outcome.message) == (
        "warning",
        "2 differences between source and destination (2 metadata), e.g. ./",
    )


def test_numbers_in_a_comma_decimal_locale() -> None:
    parser = RsyncParser(interval=0)
    assert parser.feed(b"  1.234.567  12%   10,25MB/s    0:00:03 (xfr#2, to-chk=5/9)") == Progress(
        bytes_done=1234567, percent=12.0, rate=10.25 * 1024**2, eta=3.0, files_done=2, total_files=9
    )
    parser.feed(b"Total transferred file size: 52.176.233 bytes")
    assert parser.stats().bytes_transferred == 52176233
