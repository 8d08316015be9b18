"""Monitoring pings per job (`ping: URL`), with the standard library's urllib.

Three families of dead-man's-switch monitors are recognised from the URL:

- healthchecks (healthchecks.io and self-hosted Healthchecks, the default): POST to `URL/start`
  when a run starts, to `URL` on success, to `URL/fail` on failure, with the run's log tail
  (last 10 KB, masked) as body; `URL/log` (which changes no status) for `notify test`.
- Uptime Kuma push monitors (a path with `/api/push/`): GET with `status=up` or `status=down` and
  `msg=<summary>`; Kuma has no "started" state, so nothing is sent at start.
- Cronitor (host `cronitor.link`): GET with `state=run|complete|fail` and `message=<summary>`
  for `/p/KEY/MONITOR` URLs, or the `/run`, `/complete`, `/fail` suffixes of older URLs.

`build_ping` is pure; `send_ping` makes one try with a short timeout and raises PingError. Retries
and the background thread are the outbox's.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from backupplan import __version__
from backupplan.errors import BackupplanError
from backupplan.secrets import mask

PingKind = Literal["start", "success", "fail", "log"]
Flavour = Literal["healthchecks", "uptime_kuma", "cronitor"]

PING_TIMEOUT = 10.0
TAIL_BYTES = 10_000
_HEALTHCHECKS_SUFFIX = {"start": "/start", "success": "", "fail": "/fail", "log": "/log"}
_CRONITOR_STATE = {"start": "run", "success": "complete", "fail": "fail"}


class PingError(BackupplanError):
    """A ping could not be delivered; the text is masked."""


@dataclass(frozen=True)
class PingRequest:
    """One HTTP request to a monitor."""

    method: str
    url: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def flavour(url: str) -> Flavour:
    """Given a ping URL, return which kind of monitor it belongs to."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "cronitor.link" or host.endswith(".cronitor.link"):
        return "cronitor"
    if "/api/push/" in parts.path:
        return "uptime_kuma"
    return "healthchecks"


def build_ping(url: str, kind: PingKind, *, body: str = "", summary: str = "") -> PingRequest | None:
    """Given a ping URL, the signal, the log tail and a one-line summary, return the request to
    make, or None when that kind of monitor has no such signal."""
    parts = urlsplit(url.strip())
    family = flavour(url)
    if family == "healthchecks":
        path = parts.path.rstrip("/") + _HEALTHCHECKS_SUFFIX[kind]
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        return PingRequest("POST", urlunsplit(parts._replace(path=path)), body.encode(), headers)
    if family == "uptime_kuma":
        if kind not in ("success", "fail"):
            return None
        query = _query(parts.query, drop=("status", "msg", "ping"))
        query += [("status", "up" if kind == "success" else "down"), ("msg", summary or kind)]
        return PingRequest("GET", urlunsplit(parts._replace(query=urlencode(query))))
    if kind == "log":
        return None
    if parts.path.startswith("/p/"):
        query = _query(parts.query, drop=("state", "message"))
        query.append(("state", _CRONITOR_STATE[kind]))
        if summary:
            query.append(("message", summary[:2000]))
        return PingRequest("GET", urlunsplit(parts._replace(query=urlencode(query))))
    path = parts.path.rstrip("/") + "/" + _CRONITOR_STATE[kind]
    return PingRequest("GET", urlunsplit(parts._replace(path=path)))


def send_ping(request: PingRequest, *, timeout: float = PING_TIMEOUT) -> None:
    """Make the request once; raise PingError (masked) on a network error or an HTTP error status."""
    parts = urlsplit(request.url)
    if parts.scheme not in ("http", "https"):
        raise PingError(f"{mask(request.url)}: only http and https ping URLs are supported")
    headers = {"User-Agent": f"backupplan/{__version__}", **request.headers}
    url = request.url
    if parts.username is not None or parts.password is not None:
        # urllib does not read credentials from the URL: send them as basic auth instead.
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    data = request.body if request.method == "POST" else None
    # The scheme was checked above: only http and https reach urllib.
    prepared = urllib.request.Request(url, data=data, headers=headers, method=request.method)  # noqa: S310
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as error:
        raise PingError(f"{mask(request.url)} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise PingError(f"{mask(request.url)}: {mask(str(reason))}") from None


def tail(text: str, limit: int = TAIL_BYTES) -> str:
    """Given a log text, return its last `limit` bytes (UTF-8), starting at a line when the text
    was cut, masked."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return mask(text)
    cut = data[-limit:]
    newline = cut.find(b"\n")
    if data[-limit - 1 : -limit] != b"\n" and 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]  # start at a whole line, unless the cut already does
    return mask(cut.decode("utf-8", errors="replace"))


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """Given a log file, return its masked tail as `tail` does; an unreadable file gives ''."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - limit - 1024))
            data = handle.read()
    except OSError:
        return ""
    return tail(data.decode("utf-8", errors="replace"), limit)


def _query(text: str, *, drop: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(key, value) for key, value in parse_qsl(text, keep_blank_values=True) if key not in drop]
