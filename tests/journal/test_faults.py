"""Faults with real processes (RELIABILITY.md cases 3, 4, 12, 18, 21 and the journal issue's list):
writers and compactions killed with SIGKILL, two writers at once, two openers at once, unwritable
state dirs, a full disk and a file size limit."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from backupplan.errors import StateError
from backupplan.journal import Journal, UnwritableError
from backupplan.journal.checkpoint import dump
from backupplan.journal.records import decode_line, encode_line, raw_record
from tests.journal.helpers import Clock, child_env, lines, run_once

pytestmark = pytest.mark.slow
ROOT = os.geteuid() == 0


def journal_lines(state_dir: Path) -> dict[int, bytes]:
    """Every line of the journal by seq, checking that the seqs run 1, 2, 3… without a gap."""
    found: dict[int, bytes] = {}
    for line in lines(state_dir):
        raw = decode_line(line[:-1])
        assert raw is not None, line[:200]
        assert raw["seq"] not in found, raw["seq"]
        found[raw["seq"]] = line
    assert sorted(found) == list(range(min(found, default=1), min(found, default=1) + len(found)))
    return found


def append_storm(state_dir: Path, acks: int, seed: int) -> None:
    """In a forked child: append forever, reporting each acknowledged record (seq and crc of its
    line) on `acks`. Half the records are over 1 MiB, so that many kills land inside a write."""
    rng = random.Random(seed)
    try:
        journal = Journal.open(state_dir, compact_after=None)
        count = 0
        while True:
            count += 1
            size = 1_200_000 if rng.random() < 0.5 else rng.choice((10, 300, 4000))
            record = journal.append("test.payload", job="a", data={"pad": "x" * size, "n": count})
            line = encode_line(
                raw_record(seq=record.seq, ts=record.ts, type=record.type, job=record.job, data=record.data)
            )
            os.write(acks, b"%d %d\n" % (record.seq, zlib.crc32(line)))
    finally:
        os._exit(0)


def test_sigkill_during_an_append_storm_loses_no_acknowledged_record(fast_dir: Path) -> None:
    rng = random.Random(1234)
    torn = 0
    cut_before: dict[Path, int] = {}  # journal size after the last check: tails cut later are new
    for iteration in range(200):
        state_dir = fast_dir / f"storm-{iteration // 5}"  # a fresh journal now and then keeps it small
        shutil.rmtree(fast_dir / f"storm-{iteration // 5 - 1}", ignore_errors=True)
        reading, writing = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(reading)
            append_storm(state_dir, writing, iteration)
        os.close(writing)
        time.sleep(rng.uniform(0.01, 0.04))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(reading, "rb") as pipe:
            acknowledged = [tuple(map(int, line.split())) for line in pipe.read().splitlines()]
        with Journal.open(state_dir, compact_after=None) as journal:
            cut = [tail for tail in journal.state.torn_tails if tail.offset >= cut_before.get(state_dir, 0)]
            torn += len(cut)
            on_disk = journal_lines(state_dir)
            for seq, checksum in acknowledged:
                assert zlib.crc32(on_disk[seq]) == checksum, (iteration, seq)
            if acknowledged:
                assert journal.state.last_seq >= acknowledged[-1][0]
            journal.append("test.after", job="a")  # and the next append succeeds
            cut_before[state_dir] = (state_dir / "journal.jsonl").stat().st_size
        journal_lines(state_dir)
    print(f"{torn} of 200 kills tore a write")
    assert torn > 0  # some kills did land inside a write: the test saw what it is about


def test_two_writers_ten_thousand_each_get_one_sequence(fast_dir: Path) -> None:
    state_dir = fast_dir / "two"
    Journal.open(state_dir).close()
    code = (
        "import sys, time; from pathlib import Path; from backupplan.journal import Journal\n"
        "journal = Journal.open(Path(sys.argv[1]), compact_after=None)\n"
        "go = Path(sys.argv[1]) / 'go'\n"
        "while not go.exists(): time.sleep(0.001)\n"
        "for n in range(10000): journal.append('test.write', data={'writer': sys.argv[2], 'n': n})\n"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", code, str(state_dir), name], env=child_env())
        for name in ("one", "two")
    ]
    try:
        (state_dir / "go").touch()
        for writer in writers:
            assert writer.wait(timeout=300) == 0
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    found = journal_lines(state_dir)
    assert sorted(found) == list(range(1, 20_001))
    numbers: dict[str, list[int]] = {"one": [], "two": []}
    for seq in sorted(found):
        data = decode_line(found[seq][:-1])["data"]  # type: ignore[index]
        numbers[data["writer"]].append(data["n"])
    assert numbers == {"one": list(range(10_000)), "two": list(range(10_000))}


def test_concurrent_openers_record_each_interruption_exactly_once(tmp_path: Path) -> None:
    for attempt in range(5):
        state_dir = tmp_path / f"open-{attempt}"
        with Journal.open(state_dir) as journal:
            for job in ("a", "b", "c"):
                journal.append("run.started", job=job, run=f"{job}-1", data={"pid": 1})
        code = (
            "import sys, time; from pathlib import Path\n"
            "go = Path(sys.argv[1]) / 'go'\n"
            "from backupplan.journal import Journal\n"
            "while not go.exists(): time.sleep(0.0005)\n"
            "Journal.open(Path(sys.argv[1])).close()\n"
        )
        openers = [
            subprocess.Popen([sys.executable, "-c", code, str(state_dir)], env=child_env()) for _ in range(3)
        ]
        time.sleep(0.3)
        (state_dir / "go").touch()
        for opener in openers:
            assert opener.wait(timeout=60) == 0
        interrupted = [line for line in lines(state_dir) if b'"type":"run.interrupted"' in line]
        assert len(interrupted) == 3, attempt
        journal_lines(state_dir)


def compaction_loop(state_dir: Path) -> None:
    try:
        journal = Journal.open(state_dir, compact_after=None)
        while True:
            journal.compact()
    finally:
        os._exit(0)


def test_compaction_killed_at_random_points_leaves_old_or_new(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    clock = Clock()
    with Journal.open(state_dir, clock=clock, compact_after=None) as journal:
        for number in range(400):
            run_once(journal, f"job-{number % 40}", f"r{number}", clock)
        reference = dump(journal.state)
        last_seq = journal.state.last_seq
    rng = random.Random(99)
    for _ in range(25):
        pid = os.fork()
        if pid == 0:
            compaction_loop(state_dir)
        time.sleep(rng.uniform(0.01, 0.2))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with Journal.open(state_dir, clock=clock, compact_after=None) as journal:
            assert journal.state.last_seq == last_seq
            assert dump(journal.state) == reference
            assert journal.health.problems == ()
        assert not list(state_dir.glob(".*.tmp"))  # a killed compaction's temp file is cleaned up


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextlib.contextmanager
def mounted(*argv: str, target: Path) -> Iterator[None]:
    subprocess.run(["mount", *argv, str(target)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


needs_root = pytest.mark.skipif(not ROOT or shutil.which("chattr") is None, reason="needs root and chattr")


@needs_root
def test_an_immutable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    with immutable(state_dir), pytest.raises(UnwritableError) as error:
        Journal.open(state_dir)
    assert str(state_dir) in str(error.value)
    assert "chattr -i" in str(error.value)


@needs_root
def test_an_immutable_journal_is_a_clear_error(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with Journal.open(state_dir) as journal:
        journal.append("job.paused", job="a")
    with immutable(state_dir / "journal.jsonl"):
        with pytest.raises(UnwritableError, match=str(state_dir / "journal.jsonl")):
            Journal.open(state_dir)
        with Journal.open_or_read_only(state_dir) as reader:
            assert reader.state.jobs["a"].paused
            assert [problem.kind for problem in reader.health.problems] == ["unwritable"]


@needs_root
def test_a_read_only_mount_is_a_clear_error(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with Journal.open(state_dir) as journal:
        journal.append("job.paused", job="a")
    with mounted("--bind", str(state_dir), target=state_dir):
        subprocess.run(["mount", "-o", "remount,ro,bind", str(state_dir)], check=True)
        with pytest.raises(UnwritableError, match="read-only") as error:
            Journal.open(state_dir)
        assert str(state_dir) in str(error.value)


@needs_root
def test_a_full_disk_leaves_no_partial_record_and_appends_resume(tmp_path: Path) -> None:
    disk = tmp_path / "small"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=64k", "tmpfs", target=disk):
        state_dir = disk / "state"
        journal = Journal.open(state_dir)
        journal.append("job.paused", job="a")
        filler = disk / "filler"
        with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 512)
        before = (state_dir / "journal.jsonl").read_bytes()
        with pytest.raises(StateError) as error:
            journal.append("test.big", data={"pad": "x" * 20_000})
        assert str(state_dir / "journal.jsonl") in str(error.value)
        assert "no space left" in str(error.value)
        assert (state_dir / "journal.jsonl").read_bytes() == before
        filler.unlink()
        assert journal.append("job.resumed", job="a").seq == 2
        journal.close()
        with Journal.open(state_dir) as again:
            assert again.health.problems == ()
            assert again.state.last_seq == 2


def test_a_file_size_limit_leaves_no_partial_record(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with Journal.open(state_dir) as journal:
        journal.append("job.paused", job="a")
    before = (state_dir / "journal.jsonl").read_bytes()
    code = (
        "import resource, sys; from pathlib import Path\n"
        "from backupplan.errors import StateError; from backupplan.journal import Journal\n"
        "limit = int(sys.argv[2]); resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
        "journal = Journal.open(Path(sys.argv[1]))\n"
        "try: journal.append('test.big', data={'pad': 'x' * 5000})\n"
        "except StateError as error: print(error); sys.exit(1)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(state_dir), str(len(before) + 1000)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 1, child.stderr
    assert str(state_dir / "journal.jsonl") in child.stdout
    assert "file size limit" in child.stdout
    assert (state_dir / "journal.jsonl").read_bytes() == before
    with Journal.open(state_dir) as again:
        assert again.health.problems == ()
        assert again.append("job.resumed", job="a").seq == 2
