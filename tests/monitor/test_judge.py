"""The judge: every rule and threshold, with exact status lines and states."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from backupplan.monitor.judge import STATUS_FORMAT, judge
from backupplan.monitor.thresholds import Thresholds, parse_thresholds
from backupplan.monitor.verdict import State, Verdict
from tests.monitor.documents import NOW, TOTAL, document, ended, job, perfdata, stamp


def summary_of(verdict: Verdict) -> str:
    """The status line without its perfdata."""
    return verdict.first_line().partition(" | ")[0]


def thresholds(**flags: str) -> Thresholds:
    texts: dict[str, Any] = {"late_critical": "1d", "space_warning": "10%", "space_critical": "5%"}
    texts.update(flags)
    texts.setdefault("max_age", None)
    return parse_thresholds(**texts)


def test_the_format_is_the_status_documents() -> None:
    from backupplan.status.document import STATUS_FORMAT as WRITTEN

    assert STATUS_FORMAT == WRITTEN


def test_all_good() -> None:
    verdict = judge(document(), NOW)
    assert verdict.state is State.OK and verdict.exit_code == 0
    assert verdict.first_line() == (
        "BACKUPPLAN OK - 3 jobs on time, last update 40s ago | 'jobs'=3;;;0 'failed'=0;;0;0;3 "
        "'warning'=0;0;;0;3 'interrupted'=0;0;;0;3 'overdue'=0;0;;0;3 'paused'=0;;;0;3 "
        "'running'=0;;;0;3 'age'=40s;;180;0 "
        f"'state_free'={TOTAL // 2}B;{TOTAL // 10}:;{TOTAL // 20}:;0;{TOTAL}"
    )
    assert verdict.details == ("status of nas written 11:59 UTC by backupplan 0.1.0, kept fresh by: daemon",)


def test_a_document_built_now_does_not_tell_its_age() -> None:
    verdict = judge(document(generated_at=stamp(NOW)), NOW)
    assert summary_of(verdict) == "BACKUPPLAN OK - 3 jobs on time"


def test_one_job_running_and_one_paused_are_fine() -> None:
    running = job("docs", status="running")
    paused = job(
        "photos",
        status="paused",
        paused=True,
        paused_since="2026-11-28T08:00:00Z",
        paused_by="backupplan pause",
    )
    verdict = judge(document(running, paused, generated_at=stamp(NOW)), NOW)
    assert summary_of(verdict) == "BACKUPPLAN OK - 3 jobs on time, 1 running, 1 paused"
    assert verdict.details[0] == "photos paused since 08:00 UTC by backupplan pause"
    assert perfdata(verdict.first_line())["paused"] == "1;;;0;3"
    assert perfdata(verdict.first_line())["running"] == "1;;;0;3"


@pytest.mark.parametrize(
    ("status", "run_status", "reason", "state", "text"),
    [
        ("failed", None, "exit 23: some files could not be transferred", State.CRITICAL,
         "docs failed (exit 23: some files could not be transferred)"),
        ("failed", "timed_out", "stopped after the 4h timeout", State.CRITICAL,
         "docs timed out (stopped after the 4h timeout)"),
        ("failed", None, None, State.CRITICAL, "docs failed"),
        ("held", None, "60% of the files would be deleted", State.CRITICAL,
         "docs held (60% of the files would be deleted)"),
        ("warning", None, "exit 24: some source files vanished", State.WARNING,
         "docs ended with a warning (exit 24: some source files vanished)"),
        ("interrupted", None, None, State.WARNING, "docs was interrupted by a crash (backupplan recover)"),
    ],
)  # fmt: skip
def test_the_last_outcome(
    status: str, run_status: str | None, reason: str | None, state: State, text: str
) -> None:
    verdict = judge(document(ended(job("docs"), status, reason, run_status)), NOW)
    assert verdict.state is state
    assert summary_of(verdict) == f"BACKUPPLAN {state.name} - {text}"
    assert verdict.details[0] == f"{state.name}: {text}"


def test_counts_in_perfdata() -> None:
    verdict = judge(
        document(
            ended(job("docs"), "failed", None),
            ended(job("photos"), "held", None),
            ended(job("music"), "warning", None),
            ended(job("zeta"), "interrupted", None),
        ),
        NOW,
    )
    data = perfdata(verdict.first_line())
    assert (data["jobs"], data["failed"], data["warning"], data["interrupted"]) == (
        "4;;;0",
        "2;;0;0;4",
        "1;0;;0;4",
        "1;0;;0;4",
    )


def test_overdue_by_the_deadline_even_when_the_document_says_not() -> None:
    late = job("photos", deadline="2026-11-28T03:00:00Z", overdue=False)
    verdict = judge(document(late), NOW)
    assert summary_of(verdict) == "BACKUPPLAN WARNING - photos overdue since 03:00 UTC (9h00m)"
    assert perfdata(verdict.first_line())["overdue"] == "1;0;;0;3"


def test_overdue_for_more_than_late_critical_is_critical() -> None:
    late = job("photos", deadline="2026-11-27T03:00:00Z")
    assert summary_of(judge(document(late), NOW)) == (
        "BACKUPPLAN CRITICAL - photos overdue since 2026-11-27 03:00 UTC (1d9h)"
    )
    assert judge(document(late), NOW, thresholds(late_critical="2d")).state is State.WARNING
    assert judge(document(late), NOW, thresholds(late_critical="1h")).state is State.CRITICAL


def test_the_deadline_is_compared_with_the_readers_clock() -> None:
    old = document(generated_at="2026-11-25T12:00:00Z", freshness=None)  # deadlines in its future
    assert judge(old, NOW - timedelta(days=2)).state is State.OK
    assert judge(old, NOW + timedelta(hours=15, seconds=1)).state is State.WARNING  # 03:00:01 next day
    assert judge(old, NOW + timedelta(days=2, hours=16)).state is State.CRITICAL


def test_overdue_without_a_deadline_is_a_warning() -> None:
    verdict = judge(document(job("photos", overdue=True, deadline=None)), NOW)
    assert summary_of(verdict) == "BACKUPPLAN WARNING - photos overdue"


def test_a_paused_job_that_is_overdue_is_named_as_paused() -> None:
    paused = job(
        "photos",
        status="paused",
        paused=True,
        paused_since="2026-11-27T02:00:00Z",
        paused_by="recovery",
        deadline="2026-11-28T03:00:00Z",
        overdue=True,
        next_run=None,
    )
    verdict = judge(document(paused), NOW)
    assert summary_of(verdict) == (
        "BACKUPPLAN WARNING - photos paused since 2026-11-27 02:00 UTC by recovery, "
        "overdue since 03:00 UTC (9h00m)"
    )
    assert perfdata(verdict.first_line())["paused"] == "1;;;0;3"


def test_a_failed_job_that_is_also_late_is_one_problem() -> None:
    entry = ended(job("docs", deadline="2026-11-28T10:00:00Z"), "failed", "exit 12")
    verdict = judge(document(entry), NOW)
    assert (
        summary_of(verdict) == "BACKUPPLAN CRITICAL - docs failed (exit 12), overdue since 10:00 UTC (2h00m)"
    )


def test_disabled_and_removed_jobs_are_not_judged() -> None:
    disabled = ended(job("docs", enabled=False, deadline="2026-11-01T00:00:00Z"), "failed", None)
    removed = ended(job("old", enabled=False, deadline=None), "removed", None)
    verdict = judge(document(disabled, removed, generated_at=stamp(NOW)), NOW)
    assert summary_of(verdict) == "BACKUPPLAN OK - 2 jobs on time, 1 disabled"


def test_a_stale_document_is_critical() -> None:
    stale = document(
        generated_at="2026-11-28T09:30:00Z",
        freshness={"kept_by": "daemon", "heartbeat": 60, "expected_by": "2026-11-28T09:33:00Z"},
    )
    verdict = judge(stale, NOW)
    assert summary_of(verdict) == (
        "BACKUPPLAN CRITICAL - no update since 09:30 UTC — is the daemon still running on nas?"
    )
    assert perfdata(verdict.first_line())["age"] == "9000s;;180;0"


def test_a_stale_document_kept_by_timers_names_the_timer() -> None:
    stale = document(
        generated_at="2026-11-27T02:00:00Z",
        freshness={"kept_by": "timer", "heartbeat": None, "expected_by": "2026-11-28T02:10:00Z"},
        host=None,
    )
    assert summary_of(judge(stale, NOW)) == (
        "BACKUPPLAN CRITICAL - no update since 2026-11-27 02:00 UTC — is the timer still running?"
    )


def test_a_manual_document_is_never_stale() -> None:
    manual = document(
        generated_at="2026-11-01T00:00:00Z",
        freshness={"kept_by": "manual", "heartbeat": None, "expected_by": None},
    )
    manual["jobs"] = [job("music", schedule=None, next_run=None, deadline=None)]
    verdict = judge(manual, NOW)
    assert summary_of(verdict) == "BACKUPPLAN OK - 1 job on time, last update 27d12h ago"
    assert perfdata(verdict.first_line())["age"] == "2376000s;;;0"


def test_max_age() -> None:
    old = document(generated_at="2026-11-28T10:00:00Z", freshness=None)
    verdict = judge(old, NOW, thresholds(max_age="1h"))
    assert summary_of(verdict) == "BACKUPPLAN CRITICAL - status is 2h00m old (--max-age 1h00m)"
    assert perfdata(verdict.first_line())["age"] == "7200s;;3600;0"
    assert judge(old, NOW, thresholds(max_age="3h")).state is State.OK


def test_an_older_document_without_the_new_fields_is_judged() -> None:
    older = document(host=None, freshness=None, state_dir=None)
    for entry in older["jobs"]:
        for key in ("deadline", "paused_since", "paused_by"):
            del entry[key]
    del older["host"], older["freshness"], older["state_dir"]
    verdict = judge(older, NOW)
    assert verdict.first_line() == (
        "BACKUPPLAN OK - 3 jobs on time, last update 40s ago | 'jobs'=3;;;0 'failed'=0;;0;0;3 "
        "'warning'=0;0;;0;3 'interrupted'=0;0;;0;3 'overdue'=0;0;;0;3 'paused'=0;;;0;3 "
        "'running'=0;;;0;3 'age'=40s;;;0"
    )
    assert verdict.details == ("status written 11:59 UTC by backupplan 0.1.0",)


def test_a_damaged_journal_is_a_warning() -> None:
    problem = {"kind": "damaged", "message": "records 4-4 are missing before line 4", "at": "2026-11-28T11:00:00Z",
               "quarantine": "/srv/backups/.backupplan/journal.damaged-x.jsonl"}  # fmt: skip
    verdict = judge(
        document(journal={"records": 3, "last_seq": 9, "healthy": False, "problems": [problem]}), NOW
    )
    assert summary_of(verdict) == (
        "BACKUPPLAN WARNING - journal damaged: records 4-4 are missing before line 4 (backupplan journal repair)"
    )


def test_newer_records_and_a_repaired_torn_tail() -> None:
    newer = {"kind": "newer_format", "message": "1 record from seq 9 on was written by a newer backupplan",
             "at": "2026-11-28T11:00:00Z", "quarantine": None}  # fmt: skip
    torn = {"kind": "torn_tail", "message": "cut 12 bytes", "at": "2026-11-28T11:00:00Z", "quarantine": None}
    unhealthy = {"records": 3, "last_seq": 9, "healthy": False, "problems": [torn, newer]}
    assert summary_of(judge(document(journal=unhealthy), NOW)) == (
        "BACKUPPLAN WARNING - journal has records of a newer format: "
        "1 record from seq 9 on was written by a newer backupplan"
    )
    repaired = {"records": 3, "last_seq": 9, "healthy": True, "problems": [torn]}
    assert judge(document(journal=repaired), NOW).state is State.OK


def test_an_unwritable_journal_is_critical() -> None:
    problem = {"kind": "unwritable", "message": "cannot create folder /srv/x", "at": "2026-11-28T11:00:00Z",
               "quarantine": None}  # fmt: skip
    verdict = judge(
        document(journal={"records": 3, "last_seq": 3, "healthy": True, "problems": [problem]}), NOW
    )
    assert (
        summary_of(verdict) == "BACKUPPLAN CRITICAL - journal cannot be written: cannot create folder /srv/x"
    )


def test_a_state_dir_problem_is_critical() -> None:
    space = {"path": "/srv/b", "free_bytes": 1000, "total_bytes": TOTAL,
             "problem": "is full: 1000 B free; no run can be recorded until space is freed"}  # fmt: skip
    verdict = judge(document(state_dir=space), NOW)
    assert summary_of(verdict) == (
        "BACKUPPLAN CRITICAL - state dir /srv/b is full: 1000 B free; no run can be recorded until space is freed"
    )


@pytest.mark.parametrize(
    ("free", "flags", "state", "text"),
    [
        (TOTAL // 100 * 9, {}, State.WARNING, "state dir /srv/b has 9.0 GiB free (9%), less than 10%"),
        (TOTAL // 100 * 4, {}, State.CRITICAL, "state dir /srv/b has 4.0 GiB free (4%), less than 5%"),
        (TOTAL // 1000, {}, State.CRITICAL, "state dir /srv/b has 102.4 MiB free (0.1%), less than 5%"),
        (TOTAL // 100 * 9, {"space_warning": "0"}, State.OK, ""),
        (3 * 1024**3, {"space_warning": "4GiB", "space_critical": "2GiB"}, State.WARNING,
         "state dir /srv/b has 3.0 GiB free (3%), less than 4.0 GiB"),
        (1024**3, {"space_warning": "4GiB", "space_critical": "2GiB"}, State.CRITICAL,
         "state dir /srv/b has 1.0 GiB free (1%), less than 2.0 GiB"),
        (TOTAL // 100 * 30, {"space_warning": "50%", "space_critical": "25.5%"}, State.WARNING,
         "state dir /srv/b has 30.0 GiB free (30%), less than 50%"),
    ],
)  # fmt: skip
def test_state_dir_free_space(free: int, flags: dict[str, str], state: State, text: str) -> None:
    space = {"path": "/srv/b", "free_bytes": free, "total_bytes": TOTAL, "problem": None}
    verdict = judge(document(state_dir=space, generated_at=stamp(NOW)), NOW, thresholds(**flags))
    assert verdict.state is state
    if text:
        assert summary_of(verdict) == f"BACKUPPLAN {state.name} - {text}"


def test_space_thresholds_in_perfdata() -> None:
    space = {"path": "/srv/b", "free_bytes": 5000, "total_bytes": None, "problem": None}
    verdict = judge(document(state_dir=space), NOW, thresholds(space_warning="4GiB", space_critical="0"))
    assert perfdata(verdict.first_line())["state_free"] == "5000B;4294967296:;;0"
    percent_of_unknown = judge(document(state_dir=space), NOW)  # 10% of an unknown size: not judged
    assert perfdata(percent_of_unknown.first_line())["state_free"] == "5000B;;;0"
    assert percent_of_unknown.state is State.OK


def test_a_plan_never_applied_is_a_warning() -> None:
    never = document(plan={"path": "/p", "digest": "sha256:x", "applied_at": None, "applied_digest": None})
    assert summary_of(judge(never, NOW)) == (
        "BACKUPPLAN WARNING - the plan was never applied: its scheduled jobs do not run (backupplan apply)"
    )
    manual_only = document(plan=never["plan"])
    manual_only["jobs"] = [job("music", schedule=None, next_run=None, deadline=None)]
    assert judge(manual_only, NOW).state is State.OK
    assert judge(document(plan=None), NOW).state is State.OK  # `status --state-dir`: no plan read


def test_only_the_jobs_asked_for() -> None:
    doc = document(ended(job("docs"), "failed", None), job("photos", deadline="2026-11-28T11:00:00Z"))
    assert summary_of(judge(doc, NOW, jobs=["music"])) == "BACKUPPLAN OK - 1 job on time, last update 40s ago"
    verdict = judge(doc, NOW, jobs=["photos", "music", "photos"])
    assert summary_of(verdict) == "BACKUPPLAN WARNING - photos overdue since 11:00 UTC (1h00m)"
    assert perfdata(verdict.first_line())["jobs"] == "2;;;0"


def test_a_job_asked_for_that_is_not_there_is_unknown() -> None:
    verdict = judge(document(), NOW, jobs=["photos", "fotos"])
    assert (verdict.state, verdict.exit_code) == (State.UNKNOWN, 3)
    assert verdict.lines() == ["BACKUPPLAN UNKNOWN - no job named 'fotos' in the status of nas"]
    removed = judge(document(job("old", status="removed", enabled=False)), NOW, jobs=["photos", "old"])
    assert removed.lines() == ["BACKUPPLAN UNKNOWN - job 'old' was removed from the plan"]
    many = judge(document(), NOW, jobs=["a", "b", "c", "d", "e"])
    assert (
        many.first_line()
        == "BACKUPPLAN UNKNOWN - no jobs named 'a', 'b', 'c' and 2 more in the status of nas"
    )


def test_the_worst_state_wins_and_is_named_first() -> None:
    doc = document(
        ended(job("alpha"), "warning", "exit 24"),
        job("beta", deadline="2026-11-28T11:00:00Z"),
        job("gamma", deadline="2026-11-26T11:00:00Z"),
        job("delta", deadline="2026-11-25T11:00:00Z"),
        ended(job("docs"), "failed", "exit 12"),
        journal={"records": 1, "last_seq": 1, "healthy": False, "problems": []},
    )
    verdict = judge(doc, NOW)
    assert verdict.state is State.CRITICAL
    assert summary_of(verdict) == (
        "BACKUPPLAN CRITICAL - docs failed (exit 12); delta overdue since 2026-11-25 11:00 UTC (3d1h); "
        "gamma overdue since 2026-11-26 11:00 UTC (2d1h); and 3 more"
    )
    assert verdict.details[:6] == (
        "CRITICAL: docs failed (exit 12)",
        "CRITICAL: delta overdue since 2026-11-25 11:00 UTC (3d1h)",
        "CRITICAL: gamma overdue since 2026-11-26 11:00 UTC (2d1h)",
        "WARNING: journal not healthy (backupplan status)",
        "WARNING: alpha ended with a warning (exit 24)",
        "WARNING: beta overdue since 11:00 UTC (1h00m)",
    )


def test_the_machine_comes_first() -> None:
    stale = document(
        ended(job("docs"), "failed", "exit 12"),
        generated_at="2026-11-28T09:30:00Z",
        freshness={"kept_by": "daemon", "heartbeat": 60, "expected_by": "2026-11-28T09:33:00Z"},
    )
    assert summary_of(judge(stale, NOW)) == (
        "BACKUPPLAN CRITICAL - no update since 09:30 UTC — is the daemon still running on nas?; docs failed (exit 12)"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ([], "not a backupplan status document: not a JSON object"),
        ("status", "not a backupplan status document: not a JSON object"),
        ({"jobs": []}, 'not a backupplan status document: no "format"'),
        ({"format": "1"}, "not a backupplan status document: format 1"),
        ({"format": True}, "not a backupplan status document: format True"),
        ({"format": 0}, "not a backupplan status document: format 0"),
        ({"format": 2}, "status format 2 is newer than this backupplan reads (1): upgrade it here"),
        ({"format": 1, "jobs": []}, "the status document has no valid generated_at"),
        ({"format": 1, "generated_at": "yesterday", "jobs": []}, "the status document has no valid generated_at"),
        ({"format": 1, "generated_at": "2026-11-28T12:00:00Z", "jobs": {}}, "the status document has no list of jobs"),
    ],
)  # fmt: skip
def test_what_cannot_be_judged_is_unknown(value: Any, text: str) -> None:
    verdict = judge(value, NOW)
    assert verdict.lines() == [f"BACKUPPLAN UNKNOWN - {text}"]
    assert verdict.exit_code == 3


def test_the_smallest_document_is_judged() -> None:
    verdict = judge({"format": 1, "generated_at": "2026-11-28T12:00:00Z", "jobs": []}, NOW)
    assert verdict.first_line() == (
        "BACKUPPLAN OK - 0 jobs on time | 'jobs'=0;;;0 'failed'=0;;0;0;0 'warning'=0;0;;0;0 "
        "'interrupted'=0;0;;0;0 'overdue'=0;0;;0;0 'paused'=0;;;0;0 'running'=0;;;0;0 'age'=0s;;;0"
    )


def test_fields_of_the_wrong_type_count_as_missing() -> None:
    weird = document(
        host=["nas"],
        freshness="daemon",
        state_dir={"path": None, "free_bytes": "lots", "total_bytes": -1, "problem": 42},
        journal={"healthy": "yes", "problems": "none"},
        plan=[],
    )
    weird["jobs"] += [
        "not a job",
        {"id": 7},
        job("odd", status=None, last_run="yesterday", deadline=12, paused="yes", enabled="no"),
    ]
    verdict = judge(weird, NOW)
    assert summary_of(verdict) == "BACKUPPLAN OK - 4 jobs on time, last update 40s ago"
    assert "state_free" not in perfdata(verdict.first_line())


def test_many_problems_keep_the_output_bounded() -> None:
    jobs = [ended(job(f"job-{index:05d}"), "failed", "exit 1") for index in range(10_000)]
    verdict = judge(document(*jobs), NOW)
    lines = verdict.lines()
    assert lines[0].startswith(
        "BACKUPPLAN CRITICAL - job-00000 failed (exit 1); job-00001 failed (exit 1); "
        "job-00002 failed (exit 1); and 9997 more | 'jobs'=10003;;;0 'failed'=10000;;0;0;10003 "
    )
    assert len(lines) == 1 + 50 + 2
    assert lines[-2] == "… and 9950 more problems"
