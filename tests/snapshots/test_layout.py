"""Snapshot ids, the destination's layout as read back, and the `latest` link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backupplan.snapshots import SnapshotError, next_id, parse_id, read_listing, snapshot_id
from backupplan.snapshots.layout import point_latest, trash_path
from tests.snapshots.conftest import at


def test_ids_are_sortable_utc_times_without_colons() -> None:
    moment = at("2026-11-28 02:00")
    assert snapshot_id(moment) == "2026-11-28T020000Z"
    assert parse_id("2026-11-28T020000Z") == moment
    for name in ("latest", "2026-11-28T020000Z.partial", ".trash-2026-11-28T020000Z", "2026-13-45T020000Z"):
        assert parse_id(name) is None


@pytest.mark.parametrize(
    ("now", "taken", "expected"),
    [
        ("2026-11-28 02:00", [], "2026-11-28T020000Z"),
        ("2026-11-28 02:00", ["2026-11-27T020000Z"], "2026-11-28T020000Z"),
        # two runs within one second
        ("2026-11-28 02:00", ["2026-11-28T020000Z"], "2026-11-28T020001Z"),
        # the clock went back: the new snapshot still sorts after the newest one
        ("2026-11-28 02:00", ["2026-11-28T050000Z", "junk"], "2026-11-28T050001Z"),
    ],
)
def test_a_new_id_always_sorts_last(now: str, taken: list[str], expected: str) -> None:
    assert next_id(at(now), taken) == expected


def test_listing_tells_snapshots_from_leftovers(tmp_path: Path) -> None:
    for name in ("2026-11-27T020000Z", "2026-11-26T020000Z", "2026-11-28T020000Z.partial",
                 ".trash-2026-10-01T020000Z", "notes", "2026-13-01T000000Z"):  # fmt: skip
        (tmp_path / name).mkdir()
    (tmp_path / "2026-11-29T020000Z").write_text("a file named like a snapshot is not one")
    os.symlink("2026-11-27T020000Z", tmp_path / "latest")

    listing = read_listing(tmp_path)

    assert listing.complete == ("2026-11-26T020000Z", "2026-11-27T020000Z")
    assert listing.partial == ("2026-11-28T020000Z",)
    assert listing.trash == (".trash-2026-10-01T020000Z",)
    assert listing.latest == "2026-11-27T020000Z"
    assert listing.newest == "2026-11-27T020000Z"


def test_a_missing_destination_holds_nothing(tmp_path: Path) -> None:
    listing = read_listing(tmp_path / "absent")
    assert (listing.complete, listing.partial, listing.trash, listing.latest) == ((), (), (), None)


def test_resolve_names_what_there_is(tmp_path: Path) -> None:
    for name in ("2026-11-27T020000Z", "2026-11-28T020000Z", "2026-11-29T020000Z.partial"):
        (tmp_path / name).mkdir()
    listing = read_listing(tmp_path)

    assert listing.resolve(None) == listing.resolve("latest") == "2026-11-28T020000Z"
    assert listing.resolve("2026-11-27T020000Z") == "2026-11-27T020000Z"
    with pytest.raises(SnapshotError, match=r"2026-11-29T020000Z is an unfinished snapshot .* not a backup"):
        listing.resolve("2026-11-29T020000Z")
    with pytest.raises(
        SnapshotError, match=r"no snapshot '2026-01-01' .*newest: 2026-11-27T020000Z, 2026-11"
    ):
        listing.resolve("2026-01-01")
    with pytest.raises(SnapshotError, match="holds no complete snapshot yet"):
        read_listing(tmp_path / "empty").resolve("latest")


def test_latest_is_a_relative_link_replaced_atomically(tmp_path: Path) -> None:
    for name in ("2026-11-27T020000Z", "2026-11-28T020000Z"):
        (tmp_path / name).mkdir()
    point_latest(tmp_path, "2026-11-27T020000Z")
    point_latest(tmp_path, "2026-11-28T020000Z")

    assert os.readlink(tmp_path / "latest") == "2026-11-28T020000Z"
    assert sorted(os.listdir(tmp_path)) == ["2026-11-27T020000Z", "2026-11-28T020000Z", "latest"]


def test_trash_names_never_collide(tmp_path: Path) -> None:
    first = trash_path(tmp_path, "2026-11-27T020000Z")
    first.mkdir()
    assert first.name == ".trash-2026-11-27T020000Z"
    assert trash_path(tmp_path, "2026-11-27T020000Z").name == ".trash-2026-11-27T020000Z-2"
