"""`backupplan plan`: the terraform-style diff, the due jobs with their commands, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from backupplan.commands.plan import plan_command
from backupplan.scheduler.applied import write_applied
from tests.scheduler.conftest import World, utc

NOW = utc(2026, 3, 4, 9, 0)

OLD_JOBS = """\
  photos:
    engine: rsync
    source: src
    destination: dst/photos
    schedule: "0 2 * * *"
    bandwidth: 5MiB
  documents:
    engine: rsync
    source: src
    destination: dst/documents
    schedule: every 6h
    missed: skip
  music:
    engine: rclone
    source: src
    destination: dst/music
    schedule: "@weekly"
  paused:
    engine: rsync
    source: src
    destination: dst/paused
    schedule: "@hourly"
  manual:
    engine: rsync
    source: src
    destination: dst/manual
"""

NEW_JOBS = (
    OLD_JOBS.replace("    bandwidth: 5MiB\n", "    bandwidth: 10MiB\n")
    .replace('    schedule: "@weekly"\n', '    schedule: "@daily"\n')
    .replace(
        "  manual:\n",
        "  newcomer:\n    engine: rclone\n    source: src\n    destination: dst/new\n"
        "    schedule: '30 3 * * *'\n  manual:\n",
    )
    + "  failing:\n    engine: rsync\n    source: src\n    destination: dst/failing\n    schedule: '@daily'\n"
)


def build(world: World) -> Path:
    """Applied on March 1st; photos last ran on the 1st, documents on the 3rd, paused is paused;
    since then music's schedule and photos' bandwidth changed, newcomer and failing were added
    and max_parallel went up."""
    old = world.plan(OLD_JOBS + "  gone:\n    engine: rsync\n    source: src\n    destination: dst/gone\n")
    world.applied(utc(2026, 3, 1, 8))
    write_applied(old, utc(2026, 3, 1, 8))
    world.ran("photos", utc(2026, 3, 1, 1))
    world.ran("documents", utc(2026, 3, 3, 20))
    world.ran("music", utc(2026, 3, 2, 0))
    world.ran("paused", utc(2026, 3, 1, 9))
    world.append("job.paused", utc(2026, 3, 1, 10), job="paused")
    world.ran("failing", utc(2026, 3, 4, 8), status="failed")
    note = {"failures": 1, "at": "2026-03-04T08:01:00.000Z", "next": "2026-03-04T08:31:00.000Z"}
    world.append("job.note", utc(2026, 3, 4, 8, 1), job="failing", data={"retry": note})
    world.plan(NEW_JOBS, settings="  timezone: Europe/Berlin\n  max_parallel: 4\n")
    world.close()
    return world.root / "backups.yaml"


def output(capsys: pytest.CaptureFixture[str], root: Path) -> str:
    return capsys.readouterr().out.replace(str(root), "<tmp>")


def test_plan_output(tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion) -> None:
    plan = build(World(tmp_path))
    assert plan_command(str(plan), detailed_exitcode=True, now=NOW) == 2
    assert output(capsys, tmp_path) == snapshot


def test_plan_before_the_first_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion
) -> None:
    world = World(tmp_path)
    world.plan(OLD_JOBS)
    assert plan_command(str(tmp_path / "backups.yaml"), detailed_exitcode=True, now=NOW) == 2
    assert output(capsys, tmp_path) == snapshot
    assert not (tmp_path / ".backupplan").exists()  # plan writes nothing, not even the state dir


def test_plan_without_changes_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = World(tmp_path)
    loaded = world.plan(OLD_JOBS)
    world.applied(utc(2026, 3, 1, 8))
    write_applied(loaded, utc(2026, 3, 1, 8))
    for job in ("photos", "documents", "music", "paused"):
        world.ran(job, NOW, seconds=5)
    world.close()
    before = (loaded.state_dir / "journal.jsonl").read_bytes()
    later = NOW.replace(second=30)
    assert plan_command(str(loaded.path), detailed_exitcode=True, now=later) == 0
    out = output(capsys, tmp_path)
    assert out.startswith("No changes: <tmp>/backups.yaml is the plan applied at 2026-03-01 09:00 CET.\n\n")
    assert "\nNothing is due.\n\nNot due:\n  photos     next slot 2026-03-05 02:00 CET\n" in out
    assert (loaded.state_dir / "journal.jsonl").read_bytes() == before
    assert plan_command(str(loaded.path), detailed_exitcode=False, now=later) == 0


def test_invalid_plan_exits_1(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "backups.yaml").write_text("version: 1\njobs:\n  photos:\n    engine: rsync\n")
    result = cli(["plan", "--detailed-exitcode", "-p", str(tmp_path / "backups.yaml")])
    assert result.code == 1
    assert "jobs.photos: missing required key 'source'" in result.err


def test_a_snapshot_job_shows_the_command_into_its_new_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = World(tmp_path)
    world.plan("  docs:\n    engine: rsync\n    source: src\n    destination: dst/docs\n"
               "    schedule: '@daily'\n    snapshots: {keep: {last: 3}}\n")  # fmt: skip
    (tmp_path / "dst" / "docs" / "2026-03-01T020000Z").mkdir(parents=True)
    assert plan_command(str(tmp_path / "backups.yaml"), detailed_exitcode=False, now=NOW) == 0
    out = output(capsys, tmp_path)
    assert "--partial-dir=<tmp>/dst/docs/2026-03-04T090000Z.partial/.backupplan-partial" in out
    assert out.rstrip().endswith(
        "-- <tmp>/src/ <tmp>/dst/docs/2026-03-04T090000Z.partial  "
        "# snapshot 2026-03-04T090000Z, cloned from 2026-03-01T020000Z first"
    )
