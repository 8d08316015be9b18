"""The status document kept between commands (status/kept.py): shown only while nothing it was
built from changed, and then exactly what a build from scratch would show."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backupplan.commands.check import check_command
from backupplan.commands.status import status_command
from backupplan.journal import DAEMON_LOCK, Journal, StateLock
from backupplan.plan import cache
from backupplan.status import document as document_module
from backupplan.status import kept
from backupplan.status.facts import StateSpace
from tests.journal.helpers import Clock, run_once

PLAN = """\
version: 1
settings: {{timezone: Europe/Paris, overdue_grace: 6h, state_dir: {root}/state}}
defaults: {{engine: rsync}}
jobs:
  photos:
    source: {root}/src
    destination: {root}/dst/photos
    schedule: "0 2 * * *"
  docs:
    description: the documents
    source: {root}/src
    destination: {root}/dst/docs
    schedule: every 6h
"""
# photos ran at 01:00 UTC (02:00 in Paris), docs at 06:00 UTC: at BUILT both are on time, the
# next slots are docs' at 12:00 UTC and photos' tomorrow at 01:00 UTC.
BUILT = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    path = tmp_path / "backups.yaml"
    path.write_text(PLAN.format(root=tmp_path))
    clock = Clock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    with Journal.open(tmp_path / "state", clock=clock) as journal:
        journal.append(
            "plan.applied", data={"digest": "sha256:x", "path": str(path), "jobs": ["photos", "docs"]}
        )
        clock.now = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
        run_once(journal, "photos", "20261128T010000Z-0001", clock)
        clock.now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
        run_once(journal, "docs", "20261128T060000Z-0002", clock, size=4096, files=9)
    return path


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The times at which a status document was built from the journal and the plan."""
    made: list[datetime] = []
    build_status = document_module.build_status

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        made.append(kwargs["now"])
        return build_status(*args, **kwargs)

    monkeypatch.setattr(document_module, "build_status", counted)
    yield made


def status(plan: Path, capsys: pytest.CaptureFixture[str], now: datetime, *, as_json: bool = False) -> str:
    assert status_command(str(plan), state_dir=None, as_json=as_json, now=now) == 0
    out = capsys.readouterr().out
    if as_json:  # the disk's free space moves between two commands
        document = json.loads(out)
        document["state_dir"].update(free_bytes=0, total_bytes=0)
        return json.dumps(document, indent=2)
    return out


def built_anew(
    plan: Path, capsys: pytest.CaptureFixture[str], now: datetime, *, as_json: bool = False
) -> str:
    """What a status built from scratch prints at `now` (nothing kept)."""
    os.environ["BACKUPPLAN_PLAN_CACHE"] = "off"
    try:
        return status(plan, capsys, now, as_json=as_json)
    finally:
        del os.environ["BACKUPPLAN_PLAN_CACHE"]


def free_space_out(verdict: str) -> str:
    """The plugin output without the free space of the disk (it moves between two commands)."""
    return re.sub(r"free'=\d+B", "free'=<free>B", verdict)


def kept_files() -> list[Path]:
    folder = cache.folder("status")
    return sorted(folder.iterdir()) if folder.is_dir() else []


def warm(plan: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The first status keeps the plan, the second its status (built at BUILT)."""
    status(plan, capsys, BUILT)
    status(plan, capsys, BUILT)
    assert len(kept_files()) == 1


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_the_kept_document_shows_what_a_new_build_would(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime], as_json: bool
) -> None:
    warm(plan, capsys)
    later = BUILT + timedelta(hours=4, minutes=59)  # docs' 12:00 UTC slot has not passed
    shown = status(plan, capsys, later, as_json=as_json)
    assert builds == [BUILT, BUILT]  # read back, not built
    assert shown == built_anew(plan, capsys, later, as_json=as_json)
    assert "docs" in shown and "photos" in shown


def test_a_new_record_builds_it_again(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime]
) -> None:
    warm(plan, capsys)
    clock = Clock(BUILT + timedelta(minutes=5))
    with Journal.open(plan.parent / "state", clock=clock) as journal:
        run_once(journal, "docs", "20261128T070500Z-0003", clock, trigger="manual")
    later = BUILT + timedelta(minutes=10)
    shown = status(plan, capsys, later, as_json=True)
    assert builds[-1] == later
    assert json.loads(shown)["jobs"][0]["runs"] == 2  # docs
    assert shown == built_anew(plan, capsys, later, as_json=True)


def test_an_edited_plan_builds_it_again(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime]
) -> None:
    warm(plan, capsys)
    plan.write_text(plan.read_text().replace("the documents", "all the documents"))
    later = BUILT + timedelta(minutes=1)
    assert "all the documents" in status(plan, capsys, later, as_json=True)
    assert builds[-1] == later


@pytest.mark.parametrize(
    "moment",
    [
        BUILT + timedelta(hours=5, minutes=1),  # docs' 12:00 UTC slot passed without a run
        BUILT - timedelta(minutes=30),  # the clock went back: slots since then were not looked for
    ],
    ids=["a slot passed", "an earlier clock"],
)
def test_a_time_the_document_cannot_be_restamped_to_builds_it_again(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime], moment: datetime
) -> None:
    warm(plan, capsys)
    shown = status(plan, capsys, moment, as_json=True)
    assert builds[-1] == moment
    assert shown == built_anew(plan, capsys, moment, as_json=True)


def test_overdue_is_judged_again(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime]
) -> None:
    # photos at 06:00 Paris (05:00 UTC): its run at 01:00 UTC was before that slot, so its deadline
    # is 05:00 + 6 h = 11:00 UTC, before its next run (tomorrow 05:00 UTC) and docs' (12:00 UTC).
    plan.write_text(plan.read_text().replace('"0 2 * * *"', '"0 6 * * *"'))
    warm(plan, capsys)
    on_time = json.loads(status(plan, capsys, BUILT + timedelta(hours=3, minutes=59), as_json=True))
    late = BUILT + timedelta(hours=4, minutes=30)
    shown = status(plan, capsys, late, as_json=True)
    assert builds == [BUILT, BUILT]
    assert [job["overdue"] for job in on_time["jobs"]] == [False, False]
    assert [job["overdue"] for job in json.loads(shown)["jobs"]] == [False, True]  # docs, photos
    assert shown == built_anew(plan, capsys, late, as_json=True)


def test_a_daemon_taking_the_state_dir_is_seen(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime]
) -> None:
    warm(plan, capsys)
    later = BUILT + timedelta(minutes=3)
    assert json.loads(status(plan, capsys, later, as_json=True))["freshness"]["kept_by"] == "timer"
    with StateLock(plan.parent / "state", DAEMON_LOCK):
        shown = status(plan, capsys, later, as_json=True)
        assert json.loads(shown)["freshness"]["kept_by"] == "daemon"
        assert builds == [BUILT, BUILT]
        assert shown == built_anew(plan, capsys, later, as_json=True)


def test_a_state_dir_with_a_problem_builds_it_again(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    warm(plan, capsys)
    full = StateSpace(str(plan.parent / "state"), 10, 10**9, "is full: 10 B free")
    monkeypatch.setattr(kept, "state_space", lambda state_dir: full)
    later = BUILT + timedelta(minutes=1)
    status(plan, capsys, later)  # the new build reads the disk: it has room, so it says nothing
    assert builds[-1] == later


def test_a_plan_that_reads_the_environment_keeps_no_status(
    plan: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCS", "my documents")
    plan.write_text(plan.read_text().replace("the documents", "${DOCS}"))
    for _ in range(3):
        status(plan, capsys, BUILT)
    assert kept_files() == []


def test_the_cache_switch_turns_it_off(
    plan: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUPPLAN_PLAN_CACHE", "off")
    for _ in range(3):
        status(plan, capsys, BUILT)
    assert kept_files() == []


@pytest.mark.parametrize("spoil", ["shared", "torn", "other basis"])
def test_a_file_that_cannot_be_trusted_is_built_again(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime], spoil: str
) -> None:
    warm(plan, capsys)
    (path,) = kept_files()
    if spoil == "shared":
        path.chmod(0o644)
    elif spoil == "torn":
        path.write_bytes(path.read_bytes()[:100])
    else:
        path.write_bytes(path.read_bytes().replace(b'"basis":"', b'"basis":"0'))
    later = BUILT + timedelta(minutes=2)
    shown = status(plan, capsys, later, as_json=True)
    assert builds[-1] == later
    assert shown == built_anew(plan, capsys, later, as_json=True)
    assert path.stat().st_mode & 0o777 == 0o600  # written again, private


def test_check_reads_the_kept_document_too(
    plan: Path, capsys: pytest.CaptureFixture[str], builds: list[datetime]
) -> None:
    warm(plan, capsys)
    later = BUILT + timedelta(hours=1)
    assert check_command(str(plan), now=later) == 0
    kept_verdict = free_space_out(capsys.readouterr().out)
    assert builds == [BUILT, BUILT]
    os.environ["BACKUPPLAN_PLAN_CACHE"] = "off"
    try:
        assert check_command(str(plan), now=later) == 0
    finally:
        del os.environ["BACKUPPLAN_PLAN_CACHE"]
    assert builds[-1] == later
    assert free_space_out(capsys.readouterr().out) == kept_verdict
    assert kept_verdict.startswith("BACKUPPLAN OK")


def test_the_status_after_a_run_reads_what_the_run_kept(
    tmp_path: Path, cli: Any, capsys: pytest.CaptureFixture[str], builds: list[datetime]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a\n")
    (tmp_path / "dst").mkdir()
    plan = tmp_path / "backups.yaml"
    plan.write_text(PLAN.format(root=tmp_path).replace("every 6h", "'@daily'"))
    for job in ("photos", "docs"):  # real rsync runs; the second reads the plan back from the cache
        assert cli(["run", "-p", str(plan), job]).code == 0
    assert len(kept_files()) == 1  # kept by the site feed after the last event
    ran = len(builds)
    now = datetime.now(UTC)
    shown = status(plan, capsys, now, as_json=True)
    assert len(builds) == ran  # read back: the run's document, restamped
    assert [job["runs"] for job in json.loads(shown)["jobs"]] == [1, 1]
    assert shown == built_anew(plan, capsys, now, as_json=True)


def test_a_run_keeps_nothing_when_another_process_appended_since(
    plan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backupplan.plan.load import load_plan
    from backupplan.status.sitefeed import status_document

    status(plan, capsys, BUILT)  # keeps the plan
    loaded = load_plan(plan)
    assert loaded.key
    with Journal.open(plan.parent / "state") as journal:
        seq = journal.state.last_seq
        document = status_document(loaded, journal, BUILT)
        with Journal.open(plan.parent / "state") as other:
            other.append("job.paused", job="docs", data={"by": "someone else"})
        kept.keep_current(loaded, journal, seq, document)
        assert kept_files() == []  # the file holds a record the document lacks
        journal.refresh()
        kept.keep_current(loaded, journal, seq, document)
        assert kept_files() == []  # the journal moved past the document's seq
        kept.keep_current(loaded, journal, journal.state.last_seq, status_document(loaded, journal, BUILT))
        assert len(kept_files()) == 1
