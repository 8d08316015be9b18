"""`versions:` in the plan: where the version folders go by default, and every refusal located at
its line (on an rsync job, a bucket or a remote's top without `versions.path`, a path on another
remote or overlapping the copy, an extra `--backup-dir`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupplan.plan.load import load_plan
from backupplan.plan.locations import parse_location, versions_beside
from backupplan.snapshots.versions import versions_root


def write(tmp_path: Path, jobs: str) -> Path:
    plan = tmp_path / "backups.yaml"
    plan.write_text("version: 1\njobs:\n" + jobs)
    return plan


def job(name: str, engine: str, destination: str, more: str = "") -> str:
    return f"  {name}:\n    engine: {engine}\n    source: /data\n    destination: '{destination}'\n{more}"


def test_versions_on_an_rsync_job_is_refused_at_its_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = write(tmp_path, job("nas", "rsync", "/backup/nas", "    versions: {keep: {daily: 7}}\n"))
    result = cli(["validate", str(plan)])
    assert result.code == 1
    assert result.err.splitlines() == [
        f"{plan}:7:5: jobs.nas.versions: versions are for rclone jobs (an rsync job keeps its history "
        "with snapshots: (dated hard-linked copies, see docs/snapshots.md); use snapshots: here, or "
        "engine: rclone)",
        "1 problem found.",
    ]


@pytest.mark.parametrize(
    ("destination", "path"),
    [
        ("s3:bucket", "s3:bucket-versions/cloud"),
        ("s3:bucket/", "s3:other/cloud"),
        ("remote:", "remote:history"),
        ("b2:family-photos", "b2:family-photos-history"),
        (":s3:bucket", ":s3:history"),
    ],
)
def test_a_bucket_or_a_remotes_top_needs_a_path(tmp_path: Path, cli, destination: str, path: str) -> None:  # type: ignore[no-untyped-def]
    plan = write(tmp_path, job("cloud", "rclone", destination, "    versions:\n      keep: {daily: 7}\n"))
    result = cli(["validate", str(plan)])
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[-1] == "1 problem found."
    assert lines[0].startswith(
        f"{plan}:7:5: jobs.cloud.versions: versions need a path: the destination {destination} is a "
        "bucket or the top of a remote, with no folder to put `.versions` beside (say where the "
        "version folders go, on the same remote and outside the copy"
    )
    plan.write_text(plan.read_text().replace("      keep:", f"      path: '{path}'\n      keep:"))
    fixed = cli(["validate", str(plan)])
    assert fixed.code == 0, fixed.err


def test_a_path_elsewhere_or_overlapping_the_copy_is_refused(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = write(
        tmp_path,
        job("other", "rclone", "s3:bucket/photos", "    versions: {path: 'b2:bucket/photos.versions'}\n")
        + job("inside", "rclone", "s3:bucket/photos", "    versions: {path: 's3:bucket/photos/old'}\n")
        + job("local", "rclone", str(tmp_path / "copy"), "    versions: {path: 's3:bucket/v'}\n")
        + job(
            "twice", "rclone", "s3:bucket/x", "    versions: {}\n    extra_args: [--backup-dir=s3:bucket/y]\n"
        ),
    )
    result = cli(["validate", str(plan)])
    assert result.code == 1
    assert result.err.splitlines() == [
        f"{plan}:7:22: jobs.other.versions.path: versions.path must be on the destination's remote "
        "(the remote s3:) (rclone moves replaced files into it on the server side, which works only "
        "within one remote; e.g. put it beside the destination)",
        f"{plan}:12:22: jobs.inside.versions.path: versions.path s3:bucket/photos/old overlaps the "
        "destination s3:bucket/photos (rclone refuses a --backup-dir inside the copy (or holding it); "
        "put it beside the destination, e.g. its name with .versions appended)",
        f"{plan}:17:22: jobs.local.versions.path: versions.path must be on the destination's remote "
        "(a local folder) (rclone moves replaced files into it on the server side, which works only "
        "within one remote; e.g. put it beside the destination)",
        f"{plan}:23:18: jobs.twice.extra_args[0]: --backup-dir cannot be used with versions "
        "(versions: gives each run its own --backup-dir; leave it out)",
        "4 problems found.",
    ]


def test_bad_versions_fields_are_located(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plan = write(
        tmp_path, job("cloud", "rclone", "s3:bucket/x", "    versions: {keep: {dayly: 7, last: -1}}\n")
    )
    result = cli(["validate", str(plan)])
    assert result.code == 1
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert lines[-1] == "2 problems found."
    assert lines[0].startswith(
        f"{plan}:7:23: jobs.cloud.versions.keep.dayly: unknown key 'dayly' (did you mean 'daily'?"
    )
    assert lines[1] == f"{plan}:7:39: jobs.cloud.versions.keep.last: must be at least 0, got -1"


@pytest.mark.parametrize(
    ("destination", "env", "expected"),
    [
        ("s3:bucket/photos", {}, "s3:bucket/photos.versions"),
        ("s3:bucket/photos/", {}, "s3:bucket/photos.versions"),
        ("box:/srv/backups/docs", {}, "box:/srv/backups/docs.versions"),
        ("vault:photos", {"RCLONE_CONFIG_VAULT_TYPE": "crypt"}, "vault:photos.versions"),  # crypt: a folder
        ("box:backups", {"RCLONE_CONFIG_BOX_TYPE": "sftp"}, "box:backups.versions"),
        ("box:backups", {}, None),  # the type is not known here: it may be a bucket
        ("my-s3:bucket", {"RCLONE_CONFIG_MY_S3_TYPE": "s3"}, None),
        ("/", {}, None),
    ],
)
def test_where_versions_go_by_default(destination: str, env: dict[str, str], expected: str | None) -> None:
    assert versions_beside(parse_location(destination, "rclone", Path("/plans")), env) == expected


def test_a_local_destination_keeps_its_versions_beside_it(tmp_path: Path) -> None:
    plan = write(tmp_path, job("docs", "rclone", "copies/docs", "    versions: {}\n"))
    loaded = load_plan(str(plan))
    assert versions_root(loaded.jobs["docs"], loaded.base_dir) == str(tmp_path / "copies" / "docs.versions")
    plan.write_text(plan.read_text().replace("versions: {}", "versions: {path: history}"))
    loaded = load_plan(str(plan))
    assert versions_root(loaded.jobs["docs"], loaded.base_dir) == str(tmp_path / "history")
