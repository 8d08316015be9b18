"""`backupplan logs`: which lines, in which order, filtered how, shown how (any bytes, safely)."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import backupplan_env
from tests.log_files import write_log

PLAN = """\
version: 1
settings: {timezone: UTC}
jobs:
  photos: {engine: rsync, source: src, destination: out/photos, env: {RSYNC_PASSWORD: "${NAS_PASSWORD}"}}
  mail: {engine: rsync, source: src, destination: out/mail}
  fresh: {engine: rsync, source: src, destination: out/fresh}
"""


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_PASSWORD", "hunter2-secret")


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "backups.yaml"
    path.write_text(PLAN)
    state = tmp_path / ".backupplan"
    write_log(state / "logs", "photos", "20261127T020000Z-aaaa", [b"2026-11-27T02:00:00Z [rsync] yesterday"])
    write_log(
        state / "logs",
        "photos",
        "20261128T020000Z-bbbb",
        [
            b"2026-11-28T02:00:00Z [backupplan] run started",
            b"2026-11-28T02:00:07Z [rsync] rsync error: EXIT 23",
        ],
    )
    write_log(
        state / "logs",
        "mail",
        "20261128T020003Z-cccc",
        [
            b"2026-11-28T02:00:03Z [hook] dumping mailboxes",
            b"continued output",
            b"2026-11-28T02:00:09Z [rsync] ok",
        ],
    )
    return path


PHOTOS_OLD = "photos 20261127T020000Z-aaaa | 2026-11-27T02:00:00Z [rsync] yesterday"
PHOTOS_1 = "photos 20261128T020000Z-bbbb | 2026-11-28T02:00:00Z [backupplan] run started"
PHOTOS_2 = "photos 20261128T020000Z-bbbb | 2026-11-28T02:00:07Z [rsync] rsync error: EXIT 23"
MAIL_1 = "mail 20261128T020003Z-cccc | 2026-11-28T02:00:03Z [hook] dumping mailboxes"
MAIL_2 = "mail 20261128T020003Z-cccc | continued output"
MAIL_3 = "mail 20261128T020003Z-cccc | 2026-11-28T02:00:09Z [rsync] ok"


def lines_of(out: str) -> list[str]:
    return out.splitlines()


def test_the_last_lines_across_jobs_newest_last(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["logs", "-p", str(plan)])
    assert result.code == 0, result.err
    assert lines_of(result.out) == [PHOTOS_OLD, PHOTOS_1, MAIL_1, MAIL_2, PHOTOS_2, MAIL_3]
    assert lines_of(cli(["logs", "-p", str(plan), "-n", "2"]).out) == [PHOTOS_2, MAIL_3]


def test_one_job_one_run_or_the_last_run(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert lines_of(cli(["logs", "photos", "-p", str(plan)]).out) == [PHOTOS_OLD, PHOTOS_1, PHOTOS_2]
    assert lines_of(cli(["logs", "photos", "--last", "-p", str(plan)]).out) == [PHOTOS_1, PHOTOS_2]
    assert lines_of(cli(["logs", "--last", "-p", str(plan)]).out) == [MAIL_1, MAIL_2, MAIL_3]
    by_id = cli(["logs", "--run", "20261127T020000Z-aaaa", "-p", str(plan)])
    assert lines_of(by_id.out) == [PHOTOS_OLD]
    by_prefix = cli(["logs", "photos", "--run", "20261128", "-p", str(plan)])
    assert lines_of(by_prefix.out) == [PHOTOS_1, PHOTOS_2]


def test_runs_that_cannot_be_told_apart_or_found(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    ambiguous = cli(["logs", "--run", "20261128", "-p", str(plan)])
    assert ambiguous.code == 1
    assert ambiguous.err == (
        "backupplan: '20261128' matches 2 runs (mail 20261128T020003Z-cccc, photos 20261128T020000Z-bbbb); "
        "give more of the id\n"
    )
    missing = cli(["logs", "mail", "--run", "nope", "-p", str(plan)])
    assert missing.code == 1
    assert "no log of run 'nope' of mail in the state dir" in missing.err


def test_grep_is_a_case_insensitive_regex_on_the_shown_line(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert lines_of(cli(["logs", "--grep", "exit 2[0-9]", "-p", str(plan)]).out) == [PHOTOS_2]
    assert lines_of(cli(["logs", "--grep", r"\[HOOK\]|^mail .* ok$", "-p", str(plan)]).out) == [
        MAIL_1,
        MAIL_3,
    ]
    assert lines_of(cli(["logs", "--grep", "cccc", "-n", "1", "-p", str(plan)]).out) == [MAIL_3]
    none = cli(["logs", "--grep", "no such text", "-p", str(plan)])
    assert none.code == 0 and none.out == "" and none.err == "No log lines match.\n"
    bad = cli(["logs", "--grep", "(unclosed", "-p", str(plan)])
    assert bad.code == 2
    assert "Invalid value for --grep: '(unclosed' is not a regular expression: missing )" in bad.err


def test_since_keeps_exactly_the_lines_of_the_last_duration(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "backups.yaml").write_text(PLAN)
    now = datetime.now(UTC)
    stamps = [
        (now - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ") for minutes in (180, 61, 59, 1)
    ]
    texts = [
        f"{stamp} [rsync] {minutes} min ago" for stamp, minutes in zip(stamps, (180, 61, 59, 1), strict=True)
    ]
    write_log(
        tmp_path / ".backupplan" / "logs", "mail", "20261128T020003Z-cccc", [text.encode() for text in texts]
    )
    result = cli(["logs", "--since", "1h", "-p", str(tmp_path / "backups.yaml")])
    assert [line.rsplit("] ", 1)[1] for line in lines_of(result.out)] == ["59 min ago", "1 min ago"]
    assert lines_of(cli(["logs", "--since", "2h30m", "-p", str(tmp_path / "backups.yaml")]).out)[0].endswith(
        "61 min ago"
    )
    bad = cli(["logs", "--since", "yesterday", "-p", str(tmp_path / "backups.yaml")])
    assert bad.code == 2 and "'yesterday' is not a duration" in bad.err


def test_hostile_bytes_are_shown_safely(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "backups.yaml").write_text(PLAN)
    write_log(
        tmp_path / ".backupplan" / "logs",
        "mail",
        "20261128T020003Z-cccc",
        [
            b"2026-11-28T02:00:03Z [rsync] \x1b[31mred\x1b[0m \x1b]0;pwned title\x07 bell\x07 cr\rhere",
            b"2026-11-28T02:00:04Z [rsync] caf\xe9 \xff\xfe \xe2\x80\xaereversed",
        ],
    )
    result = cli(["logs", "-p", str(tmp_path / "backups.yaml")])
    assert result.code == 0
    assert lines_of(result.out) == [
        "mail 20261128T020003Z-cccc | 2026-11-28T02:00:03Z [rsync] red  bell\\x07 cr\\x0dhere",
        "mail 20261128T020003Z-cccc | 2026-11-28T02:00:04Z [rsync] caf\\xe9 \\xff\\xfe \\u202ereversed",
    ]
    assert "\x1b" not in result.out and "\x07" not in result.out


def test_secrets_of_the_plan_are_masked(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write_log(
        plan.parent / ".backupplan" / "logs", "photos", "20261128T030000Z-dddd",
        [b"2026-11-28T03:00:00Z [hook] password is hunter2-secret"],
    )  # fmt: skip
    result = cli(["logs", "photos", "--last", "-p", str(plan)])
    assert lines_of(result.out) == [
        "photos 20261128T030000Z-dddd | 2026-11-28T03:00:00Z [hook] password is ${NAS_PASSWORD}"
    ]


def test_export_writes_the_filtered_lines_privately(plan: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "export.txt"
    result = cli(["logs", "--grep", "mail", "--export", str(target), "-p", str(plan)])
    assert result.code == 0
    assert result.out == f"Wrote 3 lines to {target}.\n"
    assert target.read_text() == f"{MAIL_1}\n{MAIL_2}\n{MAIL_3}\n"
    assert target.stat().st_mode & 0o777 == 0o600
    unwritable = cli(["logs", "--export", str(tmp_path / "no" / "such" / "dir.txt"), "-p", str(plan)])
    assert (
        unwritable.code == 1
        and "cannot write" in unwritable.err
        and "No such file or directory" in unwritable.err
    )


def test_usage_errors(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    unknown = cli(["logs", "photo", "-p", str(plan)])
    assert (
        unknown.code == 2
        and "no job 'photo' in the plan or the journal; did you mean 'photos'?" in unknown.err
    )
    both = cli(["logs", "--run", "x", "--last", "-p", str(plan)])
    assert both.code == 2 and "give either --run or --last, not both" in both.err
    follow_export = cli(["logs", "--follow", "--export", "x.txt", "-p", str(plan)])
    assert follow_export.code == 2 and "--follow cannot be combined with --export" in follow_export.err


def test_no_logs_yet(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    fresh = cli(["logs", "fresh", "-p", str(plan)])
    assert fresh.code == 0 and fresh.out == "" and fresh.err == "fresh has no logs yet.\n"


def test_a_state_dir_alone(plan: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["logs", "mail", "--state-dir", str(plan.parent / ".backupplan")])
    assert lines_of(result.out) == [MAIL_1, MAIL_2, MAIL_3]


def read_all(fd: int, process: subprocess.Popen[bytes]) -> bytes:
    output = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 10)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the terminal closed
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=10)
    return output


def test_matches_are_highlighted_on_a_terminal_only(plan: Path) -> None:
    argv = [sys.executable, "-m", "backupplan", "logs", "--grep", "exit \\d+", "-p", str(plan)]
    env = backupplan_env({"NAS_PASSWORD": "hunter2-secret", "TERM": "xterm"})
    primary, secondary = pty.openpty()
    process = subprocess.Popen(argv, stdout=secondary, stderr=subprocess.DEVNULL, env=env)
    os.close(secondary)
    try:
        shown = read_all(primary, process).decode()
    finally:
        os.close(primary)
    assert shown == PHOTOS_2.replace("EXIT 23", "\x1b[31m\x1b[1mEXIT 23\x1b[0m") + "\r\n"
    piped = subprocess.run(argv, capture_output=True, env=env, check=True)
    assert piped.stdout.decode() == PHOTOS_2 + "\n"


TRICKY = [
    b"2026-11-28T02:00:00Z [rsync] plain text 42",
    b"2026-11-28T02:00:01Z [rsync]no space after the tag",
    b"2026-11-28T02:00:02Z [hook] \x1b[1mbold\x1b[0m and a bell \x07",
    b"2026-11-28T02:00:03Z [hook] url https://user:pa55word@example.com/x?token=abcdef",
    b"2026-11-28T02:00:04Z [hook] the secret hunter2-secret in clear",
    b"a continuation line without a record",
    b"2026-11-28T02:00:05Z [rsync] caf\xe9 \xff tail\r",
    b"2026-11-28T02:00:06Z [backupplan] key=value pairs",
    b"2026-11-28T02:00:07.250Z [rsync] fractional seconds",
    b"2026-11-28T02:00:08Z [rsync] tab\there",
    b"2026-11-28T02:00:09Z [rsync]",
    b"no record and a ] bracket",
]
PATTERNS = [
    "plain", "^mail ", r"cccc \| 2026", r"\\x1b", "bold", r"\$\{NAS_PASSWORD\}", "hunter2", r"\*\*\*",
    "token", r"\] n", "tag] no", r"space after", r"\\xe9", "tail$", "=", "continuation", "bracket",
    ".", "^", r"\t", "tab", r"rsync\] $", "fractional", "02:00:0[5-9]",
]  # fmt: skip


def test_the_grep_prefilter_changes_no_result(tmp_path: Path) -> None:
    from backupplan.commands.logs import compile_grep, matcher, quick_skip
    from backupplan.logs.view import read_recent_log_lines
    from backupplan.secrets import registry

    registry.add("hunter2-secret", "NAS_PASSWORD")
    logs = tmp_path / "logs"
    write_log(tmp_path / "logs", "mail", "20261128T020003Z-cccc", TRICKY)
    write_log(tmp_path / "logs", "photos", "20261128T020000Z-bbbb", list(reversed(TRICKY)))
    for text in PATTERNS:
        pattern = compile_grep(text)
        assert pattern is not None
        slow = read_recent_log_lines(logs, None, keep=matcher(pattern))
        fast = read_recent_log_lines(logs, None, keep=matcher(pattern), skip=quick_skip(pattern))
        assert fast == slow, text
        assert read_recent_log_lines(logs, 3, keep=matcher(pattern), skip=quick_skip(pattern)) == slow[-3:]
    everything = read_recent_log_lines(logs, None, keep=matcher(compile_grep(".")))
    assert len(everything) == 2 * len(TRICKY)


@pytest.mark.slow
def test_a_user_who_may_not_read_the_logs_gets_an_error_not_a_crash(as_nobody: list[str]) -> None:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="backupplan-logs-"))  # unlike tmp_path, others may enter it
    try:
        root.chmod(0o755)
        (root / "backups.yaml").write_text("version: 1\njobs: {}\n")
        write_log(
            root / ".backupplan" / "logs",
            "mail",
            "20261128T020003Z-cccc",
            [b"2026-11-28T02:00:03Z [rsync] x"],
        )
        (root / ".backupplan").chmod(0o700)
        result = subprocess.run(
            [*as_nobody, sys.executable, "-m", "backupplan", "logs", "--plan", str(root / "backups.yaml")],
            env=backupplan_env({"HOME": str(root)}), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 1
        assert result.stderr == (
            f"backupplan: cannot read the logs in {root}/.backupplan: Permission denied; "
            "run backupplan as the user that runs the backups\n"
        )
    finally:
        shutil.rmtree(root)
