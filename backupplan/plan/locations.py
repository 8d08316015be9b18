"""Where a source or destination lives: a local folder, an ssh host, an rsync daemon, an rclone remote."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
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


# rclone remote types whose top-level folders are buckets: `.versions` beside a bucket would ask
# for a new bucket, which the credentials may not be allowed to make (and should not).
BUCKET_TYPES = frozenset(
    {"s3", "b2", "gcs", "google cloud storage", "azureblob", "swift", "oracleobjectstorage", "qingstor"}
)
VERSIONS_SUFFIX = ".versions"


def remote_type(remote: str, env: Mapping[str, str]) -> str | None:
    """Given an rclone remote's name (`s3`, or a connection string `:s3,provider=…`) and the job's
    env, return its type when the plan says it (`RCLONE_CONFIG_<NAME>_TYPE`), else None."""
    if remote.startswith(":"):
        return remote[1:].split(",", 1)[0].lower() or None
    name = remote.split(",", 1)[0].upper().replace("-", "_").replace(".", "_")
    kind = env.get(f"RCLONE_CONFIG_{name}_TYPE")
    return kind.strip().lower() if kind else None


def versions_beside(destination: Location, env: Mapping[str, str]) -> str | None:
    """Given an rclone job's parsed destination and its env, return where its versions go by
    default: the destination with `.versions` appended to its last path element (a local path,
    or `remote:path.versions`). Return None when there is no element to append to: the root
    folder, the top of a remote, or a lone first element that is (or may be) a bucket."""
    if destination.is_local:
        return None if destination.path == "/" else destination.path.rstrip("/") + VERSIONS_SUFFIX
    if destination.kind != "rclone_remote" or destination.host is None:
        return None
    path = destination.path.rstrip("/")
    elements = [element for element in path.split("/") if element not in ("", ".")]
    if not elements:
        return None
    kind = remote_type(destination.host, env)
    if len(elements) == 1 and (kind is None or kind in BUCKET_TYPES):
        return None
    return f"{destination.host}:{path}{VERSIONS_SUFFIX}"


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
