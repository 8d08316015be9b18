"""Where a source or destination lives: a local folder, an ssh host, an rsync daemon, an rclone remote."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LocationKind = Literal["local", "ssh", "rsync_daemon", "rclone_remote"]

_RSYNC_URL = re.compile(
    r"^rsync://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?(?P<path>/.*)?$"
)
_DAEMON_COLONS = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^:/]+)::(?P<path>.*)$")
_SSH = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]]+\]|[^:/]+):(?P<path>.*)$")
_SSH_URL = re.compile(
    r"^ssh://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?(?P<path>/.*)?$"
)
HOST_PORT = re.compile(r"^(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^:/\s]+)):(?P<port>\d{1,5})$")
_RCLONE_REMOTE = re.compile(r"^(?P<remote>:?[A-Za-z0-9_.+@ -][^:/]*(?:,[^:]*)?):(?P<path>.*)$")


@dataclass(frozen=True)
class Location:
    """A parsed source or destination. `path` is absolute for local locations."""

    kind: LocationKind
    text: str
    path: str
    host: str | None = None
    port: int | None = None
    operand: str | None = None  # how rsync is to be given it, when not as written (ssh:// URLs)

    @property
    def is_local(self) -> bool:
        return self.kind == "local"


def parse_location(text: str, engine: str, base_dir: Path) -> Location:
    """Given a plan's source or destination text, the job's engine and the plan's folder, return
    where it lives. Local paths get `~` expanded and resolve against `base_dir`."""
    if engine == "rsync":
        if match := _SSH_URL.match(text):
            port = int(match["port"]) if match["port"] else None
            user = f"{match['user']}@" if match["user"] else ""
            operand = f"{user}{match['host']}:{match['path'] or '/'}"
            return Location("ssh", text, match["path"] or "/", match["host"].strip("[]"), port, operand)
        if match := _RSYNC_URL.match(text):
            port = int(match["port"]) if match["port"] else 873
            return Location("rsync_daemon", text, match["path"] or "/", match["host"].strip("[]"), port)
        if match := _DAEMON_COLONS.match(text):
            return Location("rsync_daemon", text, "/" + match["path"], match["host"], 873)
        if not text.startswith(("/", "./", "../", "~")) and (match := _SSH.match(text)):
            return Location("ssh", text, match["path"], match["host"].strip("[]"), None)
    elif not text.startswith(("/", "./", "../", "~")) and (match := _RCLONE_REMOTE.match(text)):
        return Location("rclone_remote", text, match["path"], match["remote"], None)
    return Location("local", text, str(resolve_local(text, base_dir)))


def resolve_local(text: str, base_dir: Path) -> Path:
    """Expand `~` and make `text` absolute against `base_dir`, keeping a trailing slash meaningless."""
    expanded = Path(os.path.expanduser(text))
    if not expanded.is_absolute():
        expanded = base_dir / expanded
    return Path(os.path.normpath(expanded))


def contains(outer: str, inner: str) -> bool:
    """True when path `inner` is `outer` or lies below it (both absolute and normalised)."""
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def real(path: str) -> str:
    """Resolve the symlinks of the parts of `path` that exist."""
    return os.path.realpath(path)


def target_problem(target: str) -> str | None:
    """Why a network_check target is not `host:port` or an http(s) URL, or None when it is one."""
    if target.startswith(("http://", "https://")):
        return None
    match = HOST_PORT.match(target)
    if match is None or not 0 < int(match["port"]) < 65536:
        return f"{target!r} is neither host:port nor an http(s) URL"
    return None
