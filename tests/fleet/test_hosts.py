"""Host selectors: one plan, many machines; each acts on its own jobs and says which host it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backupplan.plan.load import load_plan
from backupplan.plan.model import selects
from backupplan.plan.model.fleet import could_share

PLAN = """\
version: 1
settings:
  fleet:
    hosts: [laptop, nas, web-1, web-2]
jobs:
  everywhere:
    engine: rsync
    source: ./src
    destination: ./dst/everywhere
    schedule: "@daily"
  nas-only:
    engine: rsync
    hosts: [nas]
    source: ./src
    destination: ./dst/shared
    snapshots: {{}}
  web:
    engine: rsync
    hosts: ["web-*"]
    source: ./src
    destination: ./dst/shared
    snapshots: {{}}
    schedule: "@daily"
{extra}"""


def write(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "dst").mkdir(exist_ok=True)
    (tmp_path / "src" / "file.txt").write_text("hello")
    plan = tmp_path / "backups.yaml"
    plan.write_text(PLAN.format(extra=extra))
    return plan


@pytest.mark.parametrize(
    ("selectors", "host", "expected"),
    [
        (None, "anything", True),
        (["nas"], "nas", True),
        (["nas"], "NAS", True),
        (["nas"], "nas2", False),
        (["web-*"], "web-1", True),
        (["web-*"], "db-1", False),
        (["db-[12]"], "db-2", True),
        (["db-[12]"], "db-3", False),
    ],
)
def test_selects(selectors: list[str] | None, host: str, expected: bool) -> None:
    assert selects(selectors, host) is expected


def test_jobs_that_can_share_a_machine() -> None:
    assert could_share(None, ["a"], [])
    assert not could_share(["a"], ["b"], [])
    assert could_share(["web-*"], ["web-1"], [])
    assert not could_share(["web-*"], ["db-*"], [])
    assert could_share(["web-*"], ["*-1"], ["web-1"])


@pytest.mark.parametrize(
    ("host", "jobs"),
    [("nas", ["everywhere", "nas-only"]), ("web-2", ["everywhere", "web"]), ("laptop", ["everywhere"])],
)
def test_each_host_gets_its_own_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str, jobs: list[str]
) -> None:
    monkeypatch.setenv("BACKUPPLAN_HOST", host)
    loaded = load_plan(write(tmp_path))
    assert loaded.host == host
    assert list(loaded.jobs) == jobs
    assert sorted(loaded.elsewhere) == sorted({"everywhere", "nas-only", "web"} - set(jobs))
    assert loaded.warnings == ()


def test_settings_host_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = write(tmp_path)
    plan.write_text(plan.read_text().replace("settings:\n", "settings:\n  host: nas\n"))
    monkeypatch.setenv("BACKUPPLAN_HOST", "web-1")
    assert load_plan(plan).host == "nas"
    assert load_plan(plan, host="laptop").host == "laptop"  # `plan --host` previews another machine


def test_hostname_when_nothing_names_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.delenv("BACKUPPLAN_HOST")
    assert load_plan(write(tmp_path)).host == socket.gethostname()


def test_a_selector_matching_no_fleet_host_is_a_located_warning(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    extra = "  typo:\n    engine: rsync\n    hosts: [nsa]\n    source: ./src\n    destination: ./dst/t\n"
    result = cli(["validate", str(write(tmp_path, extra))])
    assert result.code == 0, result.err
    assert "warning: " in result.out
    assert ":26:13: jobs.typo.hosts[0]: 'nsa' matches none of settings.fleet.hosts" in result.out
    assert "acting as host test-host: 1 of 4 jobs run here" in result.out


@pytest.mark.parametrize(
    ("hosts", "message"),
    [("[]", "an empty hosts list runs the job on no host"), ('["web 1"]', "'web 1' is not a host name")],
)
def test_bad_selectors_are_errors(tmp_path: Path, cli, hosts: str, message: str) -> None:  # type: ignore[no-untyped-def]
    extra = f"  bad:\n    engine: rsync\n    hosts: {hosts}\n    source: ./src\n    destination: ./dst/b\n"
    result = cli(["validate", str(write(tmp_path, extra))])
    assert result.code == 1
    assert "jobs.bad.hosts" in result.err and message in result.err


def test_overlapping_snapshots_on_one_machine_are_still_refused(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    extra = (
        "  also-nas:\n    engine: rsync\n    hosts: [nas]\n    source: ./src\n    destination: ./dst/shared\n"
    )
    result = cli(["validate", str(write(tmp_path, extra))])
    assert result.code == 1
    assert "jobs.also-nas.destination: destination overlaps the snapshots of job nas-only" in result.err


def test_apply_status_and_site_act_on_this_hosts_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.setenv("BACKUPPLAN_HOST", "web-1")
    plan = str(write(tmp_path))
    applied = cli(["apply", "--plan", plan])
    assert applied.code == 0, applied.out + applied.err
    assert applied.out.startswith("acting as host web-1: 2 of 3 jobs run here")
    assert (tmp_path / "dst/shared").is_dir() and not (tmp_path / "dst/nas-only").exists()
    status = cli(["status", "--plan", plan, "--json"])
    document = json.loads(status.out)
    assert document["host"] == "web-1"
    assert [job["id"] for job in document["jobs"]] == ["everywhere", "web"]
    site = json.loads((tmp_path / "site" / "status.json").read_text())
    assert site["host"] == "web-1" and len(site["jobs"]) == 2
    assert "acting as host web-1" in cli(["status", "--plan", plan]).out


def test_plan_previews_another_host(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["plan", "--plan", str(write(tmp_path)), "--host", "nas"])
    assert result.code == 0, result.err
    assert "preview: acting as host nas: 2 of 3 jobs run here (this machine is test-host)" in result.out
    assert "+ nas-only" in result.out and "+ web " not in result.out


def test_timers_for_a_named_host(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = str(write(tmp_path))
    units = cli(["systemd", "--plan", plan, "--host", "web-2"])
    assert "Environment=BACKUPPLAN_HOST=web-2\n" in units.out
    assert "acting as host web-2: 2 of 3 jobs run here" in units.err
    lines = cli(["cron", "--plan", plan, "--host", "web-2"]).out.splitlines()
    assert "BACKUPPLAN_HOST=web-2" in lines
    refused = cli(["cron", "--plan", plan, "--host", "web-2\nExecStart=/bin/sh"])
    assert refused.code == 2 and "is not a host name" in refused.err


def test_each_host_needs_only_the_secrets_of_its_own_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    extra = (
        "  offsite:\n    engine: rclone\n    hosts: [nas]\n    source: ./src\n    destination: s3:bucket/photos\n"
        "    env:\n      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: ${NAS_S3_SECRET}\n"
    )
    plan = str(write(tmp_path, extra))
    monkeypatch.setenv("BACKUPPLAN_HOST", "web-1")
    here = cli(["validate", plan])
    assert here.code == 0, here.err
    assert "not set on this host, used only by jobs of other hosts: ${NAS_S3_SECRET}" in here.out
    monkeypatch.setenv("BACKUPPLAN_HOST", "nas")
    there = cli(["validate", plan])
    assert there.code == 1
    assert "jobs.offsite.env.RCLONE_CONFIG_S3_SECRET_ACCESS_KEY" in there.err and "NAS_S3_SECRET" in there.err
    monkeypatch.setenv("NAS_S3_SECRET", "s3cr3t-value")
    assert cli(["validate", plan]).code == 0
