"""Secrets: values that came from the environment, and credentials inside URLs.

Every `${VAR}` the plan expands from the environment is registered here when the plan is loaded.
Anything that leaves the process as text (terminal output, logs, the journal, the site, crash
reports) goes through `mask`, which replaces each registered value with its `${VAR}` reference and
blanks passwords and tokens in URLs.

Values shorter than `MIN_SECRET_LENGTH` characters are not masked inside free text: they cannot be
meaningful secrets, and masking `1` or `on` everywhere would garble every log line.
"""

from __future__ import annotations

import re
import threading

MIN_SECRET_LENGTH = 4
MASK = "***"

_URL_USERINFO = re.compile(
    # a scheme of at most 32 characters: unbounded, every position of a long run of letters
    # would scan the whole run again (quadratic time on long lines)
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)(?P<user>[^/\s:@]*):(?P<password>[^/\s@]+)@"
)
_URL_TOKEN = re.compile(
    r"(?P<key>[?&;](?:[a-z0-9_-]{0,64}(?:token|secret|password|passwd|pass|key|signature|sig|auth|credential)"
    r"[a-z0-9_-]{0,64}))=(?P<value>[^&#\s\"'<>]+)",
    re.IGNORECASE,
)


class SecretRegistry:
    """The set of secret values known to this process, each with the name to show instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str, name: str) -> None:
        """Register `value` (read from environment variable `name`) as secret."""
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value not in self._names:
                self._names[value] = name
                self._pattern = None

    def values(self) -> list[str]:
        with self._lock:
            return list(self._names)

    def clear(self) -> None:
        with self._lock:
            self._names.clear()
            self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        pattern = self._pattern  # read without the lock: this runs for every line a tool prints
        if pattern is not None or not self._names:
            return pattern
        with self._lock:
            if self._pattern is None and self._names:
                ordered = sorted(self._names, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(value) for value in ordered))
            return self._pattern

    def mask(self, text: str) -> str:
        """Given any text, return it with every secret value and URL credential hidden."""
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(lambda match: "${" + self._names[match.group(0)] + "}", text)
        return mask_url_credentials(text)


def may_hold_url_credentials(data: bytes) -> bool:
    """Whether `mask_url_credentials` could change this UTF-8 text: each of its patterns needs
    `://` or `=` (the same tests it makes), so a large document without them need not be decoded."""
    return b"://" in data or b"=" in data


def mask_url_credentials(text: str) -> str:
    """Hide the password in `scheme://user:password@host` and token-like query values."""
    if "://" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    if "=" in text:
        text = _URL_TOKEN.sub(lambda m: f"{m['key']}={MASK}", text)
    return text


registry = SecretRegistry()


def mask(text: str) -> str:
    """Mask `text` with the process-wide registry."""
    return registry.mask(text)
