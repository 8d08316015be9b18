"""Local sources and destinations: missing, empty, a file, a missing parent, and real mounts that are
read-only or nearly full; and the site dir."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backupplan.doctor import Check, Context, Space
from backupplan.doctor.locations import local_destination, local_source
from backupplan.doctor.model import disk_space
from backupplan.doctor.site import site_checks
from backupplan.plan.locations import parse_location
from tests.journal.helpers import FROZEN

CONTEXT = Context(now=FROZEN, space=lambda path: Space(100 * 1024**3, 50 * 1024**3))


def source(path: Path) -> Check:
    return local_source("job.source", parse_location(str(path), "rsync", Path("/")))


def destination(path: Path, context: Context = CONTEXT) -> Check:
    return local_destination("job.destination", parse_location(str(path), "rsync", Path("/")), context)


def test_sources(tmp_path: Path) -> None:
    assert (source(tmp_path / "gone").status, source(tmp_path / "gone").message) == (
        "fail", f"job: source {tmp_path / 'gone'} does not exist"
    )  # fmt: skip
    (tmp_path / "empty").mkdir()
    empty = source(tmp_path / "empty")
    assert (empty.status, empty.message, empty.hint) == (
        "warn",
        f"job: source {tmp_path / 'empty'} is an empty folder",
        "is its disk mounted? a run copies nothing (with `delete: true` it empties the destination)",
    )
    (tmp_path / "file.db").write_text("x")
    assert source(tmp_path / "file.db").message == f"job: source {tmp_path / 'file.db'} is a readable file"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("a")
    assert source(tmp_path / "full").status == "ok"


def test_destinations(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert (
        destination(tmp_path / "file").message
        == f"job: destination {tmp_path / 'file'} is a file, not a folder"
    )
    unmounted = destination(tmp_path / "mnt" / "nas" / "photos")
    assert (unmounted.status, unmounted.message, unmounted.hint) == (
        "fail",
        f"job: destination {tmp_path}/mnt/nas/photos cannot be created: {tmp_path}/mnt/nas does not exist "
        f"(only {tmp_path} does)",
        f"is its disk mounted? otherwise create {tmp_path}/mnt/nas",
    )
    new = destination(tmp_path / "new")
    assert (new.status, new.message) == (
        "ok",
        f"job: destination {tmp_path / 'new'} does not exist yet; {tmp_path} is writable; "
        "50.0 GiB free of 100.0 GiB (50 %)",
    )
    assert new.facts == {
        "kind": "local", "path": str(tmp_path / "new"), "exists": False,
        "free_bytes": 50 * 1024**3, "total_bytes": 100 * 1024**3,
    }  # fmt: skip


def test_disk_space_is_the_file_systems(tmp_path: Path) -> None:
    space = disk_space(tmp_path)
    completed = subprocess.run(
        ["df", "-B1", "--output=size,avail", str(tmp_path)], capture_output=True, text=True, check=True
    )
    size, available = (int(word) for word in completed.stdout.splitlines()[1].split())
    assert space.total == size
    assert abs(space.free - available) < 64 * 1024**2  # other writers may change it meanwhile


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[list[Path]]:
    mounts: list[Path] = []
    yield mounts
    for point in reversed(mounts):
        subprocess.run(["umount", str(point)], check=True)


@pytest.mark.slow
def test_a_read_only_mount(tmp_path: Path, mounted: list[Path]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    mounted.append(folder)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
    check = destination(folder)
    assert (check.status, check.message, check.hint) == (
        "fail",
        f"job: destination {folder} is not writable: its file system is mounted read-only",
        "remount it read-write (mount -o remount,rw), or pick another folder",
    )


@pytest.mark.slow
def test_a_nearly_full_disk(tmp_path: Path, mounted: list[Path]) -> None:
    folder = tmp_path / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], check=True)
    mounted.append(folder)
    (folder / "filler").write_bytes(b"\0" * 6 * 1024 * 1024)
    check = destination(folder, Context(now=FROZEN))  # the real free space
    assert check.status == "warn"
    assert check.message == f"job: destination {folder} is writable, but only 2.0 MiB free of 8.0 MiB (25 %)"
    assert check.hint == "free some space or use a bigger disk: a full destination fails the run"


@pytest.mark.slow
def test_the_site_dir(tmp_path: Path) -> None:
    site = tmp_path / "site"
    zone = UTC
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert [check.message for check in site_checks(site, zone, now)] == [
        f"{site} does not exist yet: it is written after the first run"
    ]
    site.mkdir()
    assert [check.message for check in site_checks(site, zone, now)] == [
        f"{site} is writable", "not built yet: it is written after every run"
    ]  # fmt: skip
    (site / "status.json").write_text('{"generated_at": "2026-11-28T11:58:00Z"}')
    assert site_checks(site, zone, now)[1].message == "last built 2026-11-28 11:58 UTC (2 min ago)"
    subprocess.run(["chattr", "+i", str(site)], check=True)
    try:
        (unwritable,) = site_checks(site, zone, now)
    finally:
        subprocess.run(["chattr", "-i", str(site)], check=True)
    assert (unwritable.status, unwritable.message, unwritable.hint) == (
        "fail",
        f"the status site cannot be written in {site}: it is immutable (chattr +i)",
        f"remove the attribute: chattr -i {site}; backups go on, but the site stays out of date",
    )
