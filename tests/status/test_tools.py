"""The tool check: what the plan needs of rsync, rclone and ssh, and whether what is installed does."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from backupplan.plan.load import LoadedPlan, load_plan
from backupplan.site.data import ToolCheck
from backupplan.status.tools import Need, check_tools, plan_needs, ssh_version, tool_checks, version_key

PLAN = """\
version: 1
settings: {timezone: UTC}
jobs:
  local:
    engine: rsync
    source: src
    destination: out/local
  nas:
    engine: rsync
    source: src
    destination: nas.example:/backups/photos
  daemon:
    engine: rsync
    source: src
    destination: rsync://nas.example/backup/docs
  cloud:
    engine: rclone
    source: src
    destination: remote:bucket/cloud
    verify: checksum
  plain_cloud:
    engine: rclone
    source: src
    destination: remote:bucket/plain
  off:
    engine: rsync
    source: old.example:/data
    destination: out/off
    enabled: false
"""


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedPlan:
    (tmp_path / "backups.yaml").write_text(PLAN)
    return load_plan(tmp_path / "backups.yaml")


def test_needs_follow_the_options_each_job_gets(loaded: LoadedPlan) -> None:
    assert plan_needs(loaded) == {
        "rclone": [
            Need(
                "rclone",
                "1.52.0",
                "statistics in the JSON log (progress and totals)",
                ("cloud", "plain_cloud"),
            ),
            Need("rclone", "1.53.0", "rclone check --combined (verify)", ("cloud",)),
        ],
        "rsync": [
            Need("rsync", "3.1.0", "--info=progress2 (progress and totals)", ("daemon", "local", "nas")),
            Need("rsync", "3.2.3", "--mkpath (remote destinations)", ("daemon", "nas")),
        ],
        "ssh": [Need("ssh", None, "rsync over ssh", ("nas",))],  # `off` is disabled: it needs nothing
    }


def test_versions_compare_by_number() -> None:
    assert version_key("3.2.7") == (3, 2, 7)
    assert version_key("v1.60.1-DEV") == (1, 60, 1)
    assert version_key("9.2p1") == (9, 2, 0)
    assert version_key("3.10.0") > version_key("3.9.9")
    assert version_key("garbage") == (0, 0, 0)


def test_the_installed_tools_are_found_with_their_real_versions(loaded: LoadedPlan) -> None:
    rsync_line = subprocess.run(["rsync", "--version"], capture_output=True, text=True, check=True).stdout
    rclone_line = subprocess.run(["rclone", "version"], capture_output=True, text=True, check=True).stdout
    reports = {report.name: report for report in check_tools(loaded)}
    assert sorted(reports) == ["rclone", "rsync", "ssh"]
    assert reports["rsync"].path == shutil.which("rsync")
    assert f"version {reports['rsync'].version} " in rsync_line
    assert f"rclone v{reports['rclone'].version}\n" in rclone_line
    assert reports["ssh"].version is not None and reports["ssh"].version[0].isdigit()
    # This machine's rsync 3.5 and rclone 1.60 are new enough for everything.
    assert [report.problem for report in reports.values()] == [None, None, None]
    assert reports["rsync"].jobs == ("daemon", "local", "nas")
    minimum = reports["rsync"].minimum
    assert minimum is not None and minimum.minimum == "3.2.3"


def test_a_version_too_old_for_a_job_is_a_problem_with_the_jobs_named(loaded: LoadedPlan) -> None:
    versions = {"rsync": "3.1.3", "rclone": "1.52.3", "ssh": "8.4p1"}
    reports = {
        report.name: report
        for report in check_tools(
            loaded, which=lambda name: f"/opt/bin/{name}", version_of=lambda name, path: versions[name]
        )
    }
    assert reports["rsync"].problem == (
        "rsync 3.1.3 is older than 3.2.3, which jobs daemon, nas need for --mkpath (remote destinations)"
    )
    assert reports["rsync"].hint == "upgrade rsync to 3.2.3 or later"
    assert reports["rclone"].problem == (
        "rclone 1.52.3 is older than 1.53.0, which job cloud needs for rclone check --combined (verify)"
    )
    assert reports["ssh"].problem is None
    assert reports["rsync"].as_site() == ToolCheck(
        "rsync", "/opt/bin/rsync", "3.1.3", False, reports["rsync"].problem
    )


def test_missing_tools_are_problems_only_when_a_job_needs_them(tmp_path: Path) -> None:
    (tmp_path / "backups.yaml").write_text(
        "version: 1\njobs:\n  a: {engine: rsync, source: src, destination: out}\n"
    )
    reports = check_tools(load_plan(tmp_path / "backups.yaml"), which=lambda name: None)
    assert [(report.name, report.problem, report.hint) for report in reports] == [
        ("rsync", "rsync is not installed, and job a needs it",
         "install it (e.g. apt-get install rsync), or fix PATH"),
        ("rclone", "rclone is not installed (no job uses it)", "install it (e.g. apt-get install rclone)"),
    ]  # fmt: skip
    assert [report.needed for report in reports] == [True, False]


def test_a_version_that_cannot_be_read_is_a_problem(loaded: LoadedPlan) -> None:
    reports = check_tools(loaded, which=lambda name: f"/opt/bin/{name}", version_of=lambda name, path: None)
    assert [report.problem for report in reports] == [
        "`/opt/bin/rsync --version` failed",
        "`/opt/bin/rclone version` failed",
        "`/opt/bin/ssh -V` failed",
    ]


def test_ssh_version_reads_openssh_from_stderr() -> None:
    path = shutil.which("ssh")
    assert path is not None
    printed = subprocess.run([path, "-V"], capture_output=True, text=True, check=True).stderr
    version = ssh_version(path)
    assert version is not None and f"OpenSSH_{version}" in printed


def test_the_site_gets_the_same_answer(loaded: LoadedPlan) -> None:
    checks = tool_checks(loaded)
    assert [(check.name, check.ok) for check in checks] == [("rsync", True), ("rclone", True), ("ssh", True)]
    assert [check.name for check in tool_checks()] == ["rsync", "rclone"]  # no plan: ssh is not asked


def test_the_sites_version_cache_feeds_the_same_minimum_check(loaded: LoadedPlan, tmp_path: Path) -> None:
    cache = tmp_path / "tools.json"
    first = tool_checks(loaded, cache)
    known = json.loads(cache.read_text())
    rsync_path = shutil.which("rsync")
    assert rsync_path is not None
    (rsync_key,) = [key for key in known if key.startswith(f"{rsync_path}:")]
    assert known[rsync_key] == first[0].version
    # A cached version is used as it is, and judged against the plan's needs like a fresh one.
    cache.write_text(json.dumps({**known, rsync_key: "3.1.3"}))
    (rsync, *_) = tool_checks(loaded, cache)
    assert (rsync.version, rsync.ok) == ("3.1.3", False)
    assert rsync.problem == (
        "rsync 3.1.3 is older than 3.2.3, which jobs daemon, nas need for --mkpath (remote destinations)"
    )
