"""A source tree with everything a restore must bring back, and a property-by-property description
to compare two trees with: hard-link groups, a sparse file, user.* xattrs, a POSIX ACL, modes, old
mtimes, symlinks (relative, absolute, dangling), a FIFO, a non-UTF-8 name and a very long one."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path
from typing import Any

SPARSE_SIZE = 64 * 1024 * 1024
OLD = 946_684_800  # 2000-01-01
LONG = b"n" * 200 + b".txt"
LATIN1 = b"caf\xe9.txt"  # not UTF-8
ACL_XATTR = "system.posix_acl_access"


def acl_for_nobody() -> bytes:
    """An access ACL granting `nobody` (65534) read, in the kernel's xattr format."""
    undefined = 0xFFFFFFFF
    entries = [(0x01, 6, undefined), (0x02, 4, 65534), (0x04, 4, undefined), (0x10, 4, undefined),
               (0x20, 4, undefined)]  # fmt: skip
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


def build_corpus(root: Path) -> Path:
    """Create the corpus in `root` (absent or empty); return it."""
    root.mkdir(parents=True, exist_ok=True)
    base = os.fsencode(root)

    def path(*parts: bytes) -> bytes:
        return os.path.join(base, *parts)

    os.makedirs(path(b"links"), exist_ok=True)
    with open(path(b"links", b"pair-a"), "wb") as handle:
        handle.write(b"a hard-linked pair\n")
    os.link(path(b"links", b"pair-a"), path(b"links", b"pair-b"))
    with open(path(b"links", b"three-1"), "wb") as handle:
        handle.write(b"a group of three\n")
    os.link(path(b"links", b"three-1"), path(b"links", b"three-2"))
    os.makedirs(path(b"elsewhere"), exist_ok=True)
    os.link(path(b"links", b"three-1"), path(b"elsewhere", b"three-3"))
    with open(path(b"disk.img"), "wb") as handle:  # data in the middle of a hole
        handle.seek(SPARSE_SIZE // 2)
        handle.write(b"the only data of a 64 MiB image\n")
        handle.truncate(SPARSE_SIZE)
    with open(path(b"tagged.txt"), "wb") as handle:
        handle.write(b"a file with extended attributes\n")
    os.setxattr(path(b"tagged.txt"), "user.backup.note", b"keep me")
    os.setxattr(path(b"tagged.txt"), "user.checksum", b"\x00\x01binary")
    with open(path(b"shared.txt"), "wb") as handle:
        handle.write(b"a file with an ACL\n")
    os.setxattr(path(b"shared.txt"), ACL_XATTR, acl_for_nobody())
    with open(path(b"script.sh"), "wb") as handle:
        handle.write(b"#!/bin/sh\necho hi\n")
    os.chmod(path(b"script.sh"), 0o750)
    with open(path(b"private"), "wb") as handle:
        handle.write(b"secret-ish\n")
    os.chmod(path(b"private"), 0o600)
    os.symlink(b"tagged.txt", path(b"relative-link"))
    os.symlink(b"/etc/hostname", path(b"absolute-link"))
    os.symlink(b"nowhere/at/all", path(b"dangling-link"))
    os.mkfifo(path(b"pipe"))
    with open(path(LATIN1), "wb") as handle:
        handle.write(b"latin-1 name\n")
    with open(path(LONG), "wb") as handle:
        handle.write(b"a long name\n")
    for directory, folders, files in os.walk(base, topdown=False):
        for name in [*files, *folders]:
            os.utime(os.path.join(directory, name), (OLD, OLD), follow_symlinks=False)
    os.utime(base, (OLD, OLD))
    return root


def describe_tree(root: Path) -> dict[str, Any]:
    """Every property a faithful copy keeps, entry by entry, plus the hard-link groups."""
    base = os.fsencode(root)
    entries: dict[bytes, dict[str, Any]] = {}
    inodes: dict[int, list[bytes]] = {}
    for directory, folders, files in os.walk(base):
        for name in sorted([*folders, *files]):
            full = os.path.join(directory, name)
            relative = os.path.relpath(full, base)
            status = os.lstat(full)
            entry: dict[str, Any] = {
                "type": stat.S_IFMT(status.st_mode),
                "mode": stat.S_IMODE(status.st_mode),
                "mtime": int(status.st_mtime),
                "uid": status.st_uid,
                "gid": status.st_gid,
            }
            if stat.S_ISLNK(status.st_mode):
                entry["target"] = os.readlink(full)
            else:
                entry["xattrs"] = {
                    key: os.getxattr(full, key)
                    for key in sorted(os.listxattr(full))
                    if key.startswith("user.")
                }
                try:
                    entry["acl"] = os.getxattr(full, ACL_XATTR)
                except OSError:
                    entry["acl"] = None
            if stat.S_ISREG(status.st_mode):
                entry["size"] = status.st_size
                with open(full, "rb") as handle:
                    entry["sha256"] = hashlib.sha256(handle.read()).hexdigest()
                entry["sparse"] = status.st_blocks * 512 < status.st_size // 2
                inodes.setdefault(status.st_ino, []).append(relative)
            entries[relative] = entry
    groups = sorted(sorted(paths) for paths in inodes.values() if len(paths) > 1)
    return {"entries": entries, "links": groups}


def differences(source: dict[str, Any], copy: dict[str, Any]) -> list[str]:
    """Property by property, what the copy lost or changed (empty: it is faithful)."""
    found = []
    for path, wanted in source["entries"].items():
        got = copy["entries"].get(path)
        if got is None:
            found.append(f"{path!r}: missing")
            continue
        for key, value in wanted.items():
            if got.get(key) != value:
                found.append(f"{path!r}: {key} {value!r} became {got.get(key)!r}")
    for path in copy["entries"]:
        if path not in source["entries"]:
            found.append(f"{path!r}: extra")
    if source["links"] != copy["links"]:
        found.append(f"hard links {source['links']!r} became {copy['links']!r}")
    return found
