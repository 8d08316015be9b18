"""Recovery rules (RELIABILITY.md cases 1 and 2): the tail may be torn, the middle may not.

Every intact record is recovered; a torn tail is cut exactly at the last record boundary and
reported; damage in the middle is skipped, reported, copied aside once, and never dropped
silently; a record of a newer format is reported, not misread.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backupplan.errors import StateError
from backupplan.journal import Journal
from backupplan.journal.records import decode_line, encode_line, raw_record
from backupplan.journal.scan import Scanner
from tests.journal.helpers import Clock, lines, run_once


def sixty_records(state_dir: Path, clock: Clock) -> bytes:
    """A journal of exactly 60 records of the usual kinds; return its bytes."""
    with Journal.open(state_dir, clock=clock) as journal:
        journal.append("plan.applied", data={"digest": "sha256:ab", "path": "/p", "jobs": ["a", "b", "c"]})
        number = 0
        while journal.state.last_seq < 57:
            job = "abc"[number % 3]
            run_once(journal, job, f"run-{number}", clock, size=100 + number)
            number += 1
        journal.append("job.paused", job="a", data={"by": "cli"})
        journal.append("job.resumed", job="a")
        while journal.state.last_seq < 60:
            journal.append("control.pause", job="b")
    data = (state_dir / "journal.jsonl").read_bytes()
    assert data.count(b"\n") == 60
    return data


@pytest.fixture
def journal_bytes(fast_dir: Path, clock: Clock) -> bytes:
    return sixty_records(fast_dir / "original", clock)


def scan(data: bytes) -> tuple[list[int], Scanner]:
    seqs: list[int] = []
    scanner = Scanner(0, 0, 1, lambda raw: seqs.append(raw["seq"]))
    scanner.feed(data)
    return seqs, scanner


def test_scanner_at_every_byte_offset_keeps_every_whole_record(journal_bytes: bytes) -> None:
    for cut in range(len(journal_bytes) + 1):
        prefix = journal_bytes[:cut]
        whole = prefix.count(b"\n")
        seqs, scanner = scan(prefix)
        assert seqs == list(range(1, whole + 1)), cut
        assert scanner.end == prefix.rfind(b"\n") + 1, cut
        assert scanner.damage == [], cut


@pytest.mark.slow
def test_journal_cut_at_every_byte_offset_recovers_and_appends(
    journal_bytes: bytes, fast_dir: Path, clock: Clock
) -> None:
    state_dir = fast_dir / "cut"
    state_dir.mkdir(mode=0o700)
    path = state_dir / "journal.jsonl"
    for cut in range(len(journal_bytes) + 1):
        prefix = journal_bytes[:cut]
        boundary = prefix.rfind(b"\n") + 1
        whole = prefix.count(b"\n")
        path.write_bytes(prefix)
        with Journal.open(state_dir, clock=clock) as journal:
            cut_off = cut - boundary
            torn = [problem for problem in journal.health.problems if problem.kind == "torn_tail"]
            assert len(torn) == (1 if cut_off else 0), cut
            assert journal.health.healthy
            data = path.read_bytes()
            assert data[:boundary] == journal_bytes[:boundary], cut
            if cut_off:
                record = journal.state.torn_tails[-1]
                assert (record.bytes, record.offset, record.quarantine) == (cut_off, boundary, None), cut
            # what opening added: the torn-tail note, and an interruption for a run cut in half
            decoded = [decode_line(line[:-1]) for line in data.splitlines(keepends=True)]
            assert [raw["seq"] for raw in decoded if raw] == list(range(1, len(decoded) + 1)), cut
            added = {raw["type"] for raw in decoded[whole:] if raw}
            assert added <= {"journal.torn_tail", "run.interrupted"}, cut
            assert ("journal.torn_tail" in added) == bool(cut_off), cut
            expected_last = len(decoded) + 1
            journal.append("job.paused", job="a")
            assert journal.state.last_seq == expected_last, cut
        with Journal.open(state_dir, clock=clock) as again:
            assert again.state.last_seq == expected_last, cut
            assert again.state.records == expected_last, cut
        path.unlink()


def test_nul_padding_and_garbage_after_the_last_record_are_cut(
    journal_bytes: bytes, state_dir: Path, clock: Clock
) -> None:
    for tail in (b"\x00" * 4096, b"garbage without a newline", b'{"v":1,"seq":61,"ts":'):
        shutil.rmtree(state_dir, ignore_errors=True)
        state_dir.mkdir(mode=0o700)
        (state_dir / "journal.jsonl").write_bytes(journal_bytes + tail)
        with Journal.open(state_dir, clock=clock) as journal:
            assert journal.state.last_seq == 61  # 60 records and the torn_tail note
            assert journal.state.torn_tails[-1].bytes == len(tail)
            assert lines(state_dir)[:60] == journal_bytes.splitlines(keepends=True)


def test_a_damaged_last_line_is_a_torn_tail_and_a_copy_is_kept(
    journal_bytes: bytes, state_dir: Path, clock: Clock
) -> None:
    state_dir.mkdir(mode=0o700)
    damaged = bytearray(journal_bytes)
    damaged[-30] ^= 0x20  # inside the 60th record: indistinguishable from a torn write
    (state_dir / "journal.jsonl").write_bytes(bytes(damaged))
    with Journal.open(state_dir, clock=clock) as journal:
        (problem,) = journal.health.problems
        assert problem.kind == "torn_tail"
        assert problem.quarantine is not None
        assert Path(problem.quarantine).read_bytes() == bytes(damaged)
        assert Path(problem.quarantine).stat().st_mode & 0o777 == 0o600
        assert journal.state.last_seq == 60  # 59 records and the torn_tail note


def damage_and_open(
    state_dir: Path, clock: Clock, journal_bytes: bytes, change: str
) -> tuple[Journal, bytes]:
    state_dir.mkdir(mode=0o700)
    original = journal_bytes.splitlines(keepends=True)
    if change == "flip":
        line = bytearray(original[29])
        line[40] ^= 0x04
        original[29] = bytes(line)
    elif change == "delete":
        del original[4]
    elif change == "duplicate":
        original.insert(10, original[9])
    data = b"".join(original)
    (state_dir / "journal.jsonl").write_bytes(data)
    return Journal.open(state_dir, clock=clock), data


@pytest.mark.parametrize(
    ("change", "message", "records"),
    [
        ("flip", "line 30 (byte ", 59),
        ("delete", "records 5-5 are missing before line 5 (byte ", 59),
        ("duplicate", "line 11 (byte ", 60),
    ],
)
def test_damage_in_the_middle_is_reported_copied_once_and_skipped(
    journal_bytes: bytes, state_dir: Path, clock: Clock, change: str, message: str, records: int
) -> None:
    journal, damaged = damage_and_open(state_dir, clock, journal_bytes, change)
    with journal:
        (problem,) = journal.health.problems
        assert problem.kind == "damaged"
        assert problem.message.startswith(message)
        assert not journal.health.healthy
        assert problem.quarantine is not None
        assert Path(problem.quarantine).read_bytes() == damaged
        # every intact record is folded, the damaged one is not, and the damage is journaled
        assert journal.state.records == records + 1
        assert lines(state_dir)[-1].startswith(b'{"v":1,"seq":61,')
        assert b'"type":"journal.damaged"' in lines(state_dir)[-1]
        journal.append("job.paused", job="c")  # backups go on
    with Journal.open(state_dir, clock=clock) as again:
        assert [problem.quarantine for problem in again.health.problems] == [problem.quarantine]
        assert len(list(state_dir.glob("journal.damaged-*.jsonl"))) == 1
        assert again.state.jobs["c"].paused
        with pytest.raises(StateError, match="not compacted"):
            again.compact()
        report = again.repair()
        assert report.quarantine == [problem.quarantine]
        assert again.health.problems == ()
    with Journal.open(state_dir, clock=clock) as repaired:
        assert repaired.health.problems == ()
        assert repaired.state.jobs["c"].paused
        assert Path(problem.quarantine).exists()


def test_a_duplicated_line_is_not_folded_twice(journal_bytes: bytes, state_dir: Path, clock: Clock) -> None:
    journal, _ = damage_and_open(state_dir, clock, journal_bytes, "duplicate")
    with journal:
        reference = Journal.open(state_dir.parent / "reference", clock=clock)
        (state_dir.parent / "reference" / "journal.jsonl").write_bytes(journal_bytes)
        reference.close()
        with Journal.open(state_dir.parent / "reference", clock=clock) as clean:
            for job_id in ("a", "b", "c"):
                assert journal.state.jobs[job_id].runs == clean.state.jobs[job_id].runs
                assert journal.state.jobs[job_id].bytes == clean.state.jobs[job_id].bytes


def test_a_record_of_a_newer_format_is_reported_not_misread(
    journal_bytes: bytes, state_dir: Path, clock: Clock
) -> None:
    state_dir.mkdir(mode=0o700)
    newer = raw_record(
        seq=61, ts="2026-11-28T12:00:00.000Z", type="run.finished", job="a", run="run-0", version=2
    )
    newer["data"] = {"status": "failed", "shape": "unknown to format 1"}
    (state_dir / "journal.jsonl").write_bytes(journal_bytes + encode_line(newer))
    with Journal.open(state_dir, clock=clock) as journal:
        (problem,) = journal.health.problems
        assert problem.kind == "newer_format"
        assert "seq 61" in problem.message
        assert "upgrade backupplan" in problem.message
        assert not journal.health.healthy
        assert journal.state.jobs["a"].failures == 0  # not folded
        assert journal.append("job.paused", job="a").seq == 62
        with pytest.raises(StateError, match="not compacted"):
            journal.compact()
        with pytest.raises(StateError, match="newer backupplan"):
            journal.repair()
