"""`backupplan journal repair|compact`, end to end in a real process."""

from __future__ import annotations

from pathlib import Path

from backupplan.journal import JobLock
from tests.journal.helpers import demo


def test_repair_after_damage(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    journal = state_dir / "journal.jsonl"
    data = bytearray(journal.read_bytes())
    data[300] ^= 0x01  # inside the second record
    journal.write_bytes(bytes(data))
    with JobLock(state_dir, "docs"):
        status = run_backupplan(["status", "-p", str(plan)])
        assert status.returncode == 0, status.stderr
        assert "NOT HEALTHY" in status.stdout
        repaired = run_backupplan(["journal", "repair", "-p", str(plan)])
        assert repaired.returncode == 0, repaired.stderr
        assert "repaired; 1 damaged stretch dropped:" in repaired.stdout
        assert "  line 2 (byte " in repaired.stdout
        assert "The journal as it was is kept at " + str(state_dir / "journal.damaged-") in repaired.stdout
        again = run_backupplan(["status", "-p", str(plan)])
        assert "Journal: 19 records, healthy." in again.stdout, again.stdout
        nothing = run_backupplan(["journal", "repair", "-p", str(plan)])
        assert "no damage found, nothing to repair." in nothing.stdout


def test_compact_by_hand(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    plan, state_dir = demo(tmp_path)
    with JobLock(state_dir, "docs"):
        result = run_backupplan(["journal", "compact", "-p", str(plan)])
    assert result.returncode == 0, result.stderr
    assert "18 records compacted" in result.stdout
    assert len((state_dir / "journal.jsonl").read_bytes().splitlines()) == 1
