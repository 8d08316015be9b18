"""Reading a published status document: a file, stdin (`-`) or an http(s) URL.

Whatever the source, at most `limit` bytes are read; a URL is given up on after `timeout` seconds
(connecting, waiting, and reading a trickle alike). A URL's credentials
(`https://user:password@host/…`) are sent as HTTP basic auth, never to another host after a
redirect, and never shown: `shown_source` is what messages name. Redirects are followed to http(s)
only. Everything that goes wrong raises StatusUnreadable with a one-line message.
"""

from __future__ import annotations

import base64
import re
import sys
import time
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import orjson

from backupplan.errors import BackupplanError
from backupplan.secrets import mask_url_credentials

if TYPE_CHECKING:
    import urllib.request
    from http.client import HTTPMessage

STATUS_LIMIT = 16 * 1024 * 1024  # bytes: a 10,000-job status.json is about 10 MiB
CHUNK = 256 * 1024
WEB_SCHEMES = ("http", "https")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class StatusUnreadable(BackupplanError):
    """The status document could not be read or is not JSON."""


def is_url(source: str) -> bool:
    """True for `scheme://…` (which only http and https may be), false for a path."""
    return _SCHEME.match(source) is not None


def shown_source(source: str) -> str:
    """Given a path or URL, return it as messages may show it: a URL's user info replaced by
    `***` and token-like query values masked."""
    if not is_url(source):
        return source
    try:
        parts = urlsplit(source)
    except ValueError:
        return "(a URL that cannot be parsed)"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return mask_url_credentials(urlunsplit(parts._replace(netloc=netloc)))


def read_status(source: str, *, timeout: float, limit: int = STATUS_LIMIT) -> Any:
    """Given a path, `-` or an http(s) URL, return the parsed JSON there; raise StatusUnreadable
    when it cannot be read in time, is bigger than `limit` bytes or is not JSON."""
    if source == "-":
        body = _read_limited(sys.stdin.buffer, limit, source, time.monotonic() + timeout)
    elif is_url(source):
        body = _fetch(source, timeout=timeout, limit=limit)
    else:
        try:
            with open(source, "rb") as handle:
                body = _read_limited(handle, limit, source, time.monotonic() + timeout)
        except OSError as error:
            raise StatusUnreadable(f"cannot read {source}: {error.strerror or error}") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise StatusUnreadable(f"{shown_source(source)} is not JSON: {error}") from None


def _read_limited(stream: IO[bytes], limit: int, source: str, deadline: float) -> bytes:
    """Read all of `stream`, but no more than `limit` bytes and not after `deadline`."""
    chunks, size = [], 0
    read = getattr(stream, "read1", stream.read)  # what has arrived: a trickle cannot hold it up
    while chunk := read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise StatusUnreadable(f"{shown_source(source)} is bigger than {limit // (1024 * 1024)} MiB")
        if time.monotonic() > deadline:
            raise StatusUnreadable(f"{shown_source(source)} took too long to read")
        chunks.append(chunk)
    return b"".join(chunks)


def _fetch(url: str, *, timeout: float, limit: int) -> bytes:
    import urllib.error
    import urllib.request

    shown = shown_source(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise StatusUnreadable(f"{shown} is not a URL") from None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        raise StatusUnreadable(f"{shown}: only http:// and https:// URLs (or a file path) can be read")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc += f":{port}" if port is not None else ""
    request = urllib.request.Request(  # noqa: S310 (the scheme is http or https, checked above)
        urlunsplit(parts._replace(netloc=netloc, fragment="")),
        headers={"Accept": "application/json", "User-Agent": "backupplan-check"},
    )
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        # Unredirected: the credentials go to this host only, never to where it redirects.
        request.add_unredirected_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    opener = urllib.request.build_opener(_web_redirects()())
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise StatusUnreadable(f"{shown} is bigger than {limit // (1024 * 1024)} MiB")
            return _read_limited(response, limit, url, deadline)
    except urllib.error.HTTPError as error:
        raise StatusUnreadable(
            f"{shown} answered HTTP {error.code} {_reason(error.reason)}".rstrip()
        ) from None
    except urllib.error.URLError as error:
        raise StatusUnreadable(f"cannot reach {shown}: {_reason(error.reason)}") from None
    except TimeoutError:
        raise StatusUnreadable(f"{shown} did not answer within {timeout:g} s") from None
    except OSError as error:  # a connection reset halfway, a TLS error while reading
        raise StatusUnreadable(f"cannot read {shown}: {_reason(error)}") from None


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError) or str(reason) == "timed out":
        return "no answer in time"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return mask_url_credentials(str(reason))


def _web_redirects() -> type[urllib.request.HTTPRedirectHandler]:
    import urllib.request

    class WebRedirects(urllib.request.HTTPRedirectHandler):
        """Follow redirects to http(s) only: never to file://, ftp:// or anything else."""

        def http_error_302(
            self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage
        ) -> Any:
            location = headers.get("Location") or headers.get("URI")
            if location is not None:
                target = urljoin(req.full_url, location)
                if urlsplit(target).scheme.lower() not in WEB_SCHEMES:
                    where = f"{shown_source(req.full_url)} redirects to {shown_source(target)}"
                    raise StatusUnreadable(f"{where}: only http(s) redirects are followed")
            return super().http_error_302(req, fp, code, msg, headers)

        http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    return WebRedirects
