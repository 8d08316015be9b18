"""The dumps folder and the temp-name-then-rename that keeps the previous dump until a new one is
complete."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from backupplan.dumps import DumpError
from backupplan.dumps.files import dumps_folder, ends_with, same_content, settle, start, temporary


def test_the_folder_is_made_private_inside_the_source(tmp_path: Path) -> None:
    folder = dumps_folder(tmp_path, "db/dumps")
    assert folder == tmp_path / "db" / "dumps" and folder.is_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert dumps_folder(tmp_path, "db/dumps") == folder  # there already: fine


def test_a_folder_that_leads_out_of_the_source_is_refused(tmp_path: Path) -> None:
    source, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    source.mkdir()
    elsewhere.mkdir()
    (source / ".backupplan-dumps").symlink_to(elsewhere)
    with pytest.raises(DumpError, match="leads out of the source"):
        dumps_folder(source, ".backupplan-dumps")
    with pytest.raises(DumpError, match="is not a folder"):
        dumps_folder(tmp_path / "missing", ".backupplan-dumps")


def test_start_removes_a_leftover_and_settle_makes_the_dump_private(tmp_path: Path) -> None:
    temp = temporary(tmp_path / "app.sql")
    assert temp == tmp_path / ".app.sql.tmp"
    temp.write_text("what a killed run left")
    start(temp)
    assert not temp.exists()  # the program creates it anew (see files.py: ext4 and O_TRUNC)
    temp.write_text("a dump")
    os.chmod(temp, 0o644)
    assert settle(temp, tmp_path / "app.sql")
    assert stat.S_IMODE((tmp_path / "app.sql").stat().st_mode) == 0o600


def test_a_folder_others_may_enter_is_made_private(tmp_path: Path) -> None:
    (tmp_path / ".backupplan-dumps").mkdir(mode=0o755)
    folder = dumps_folder(tmp_path, ".backupplan-dumps")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_the_completion_line_is_looked_for_near_the_end(tmp_path: Path) -> None:
    dump = tmp_path / "app.sql"
    dump.write_bytes(
        b"x" * 200_000 + b"\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n"
    )
    assert ends_with(dump, b"-- PostgreSQL database dump complete")
    dump.write_bytes(
        b"-- PostgreSQL database dump complete\n" + b"x" * 200_000
    )  # only at the start: cut short
    assert not ends_with(dump, b"-- PostgreSQL database dump complete")


def test_settle_replaces_or_keeps_the_previous_file(tmp_path: Path) -> None:
    final = tmp_path / "app.sql"
    temp = temporary(final)
    temp.write_text("one")
    assert settle(temp, final) is True
    assert final.read_text() == "one" and not temp.exists()
    before = final.stat()
    temp.write_text("one")
    assert settle(temp, final) is False  # identical: the previous file stays, same inode and time
    after = final.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns) and not temp.exists()
    temp.write_text("two")
    assert settle(temp, final) is True and final.read_text() == "two"


def test_postgresql_restrict_keys_are_not_compared(tmp_path: Path) -> None:
    """PostgreSQL 15.14 and later put a new random key in every plain dump; two dumps of the same
    data differ in those lines alone."""
    from backupplan.dumps.take import RESTRICT

    body = b"".join(b"COPY line %d\n" % number for number in range(300_000))  # several chunks
    old, new = tmp_path / "old.sql", tmp_path / "new.sql"
    old.write_bytes(b"--\n\\restrict AAAA1111\n" + body + b"\\unrestrict AAAA1111\n")
    new.write_bytes(b"--\n\\restrict BBBB2222\n" + body + b"\\unrestrict BBBB2222\n")
    assert same_content(old, new, RESTRICT)
    assert not same_content(old, new)
    changed = body.replace(b"COPY line 250000\n", b"COPY line 250009\n")
    new.write_bytes(b"--\n\\restrict BBBB2222\n" + changed + b"\\unrestrict BBBB2222\n")
    assert not same_content(old, new, RESTRICT)
    new.write_bytes(b"--\n\\restrict BBBB2222\n" + body + b"\\unrestrict BBBB2222\nX")
    assert not same_content(old, new, RESTRICT)


def test_a_new_dump_of_the_same_size_in_the_same_second_gets_a_later_time(tmp_path: Path) -> None:
    """rsync's quick check compares sizes and whole seconds: it must see the new dump as changed."""
    final = tmp_path / "app.sql"
    final.write_text("one")
    os.utime(final, ns=(0, 5_000_000_000 + 300))  # second 5
    temp = temporary(final)
    temp.write_text("two")
    os.utime(temp, ns=(0, 5_000_000_000 + 900))  # the same second
    assert settle(temp, final)
    assert final.read_text() == "two" and final.stat().st_mtime_ns == 6_000_000_000
    temp.write_text("three")  # another size: its own time is kept
    os.utime(temp, ns=(0, 5_500_000_000))
    assert settle(temp, final) and final.stat().st_mtime_ns == 5_500_000_000
