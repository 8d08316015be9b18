"""The last line of defence: every byte the site writes is masked, in the form it is written in.

The data handed to the site is already masked, but one forgotten field must not publish a password
on a web server. So each file is masked as it is written. A secret can appear in a page
HTML-escaped (`a&amp;b`) or in status.json JSON-escaped (`a\\"b`), where a plain search for the
value would miss it; the masker looks for every such form.
"""

from __future__ import annotations

import hashlib
import json
import re

from markupsafe import escape

from backupplan.secrets import SecretRegistry, mask_url_credentials, may_hold_url_credentials, registry


class SiteMasker:
    """Masks text with the registry's secrets in their raw, HTML-escaped and JSON-escaped forms,
    and URL credentials; built once per build from the registry as it is then."""

    def __init__(self, secrets: SecretRegistry | None = None) -> None:
        secrets = registry if secrets is None else secrets
        self._replacement: dict[str, str] = {}
        for value in secrets.values():
            shown = secrets.mask(value)  # `${NAME}`: the registry knows each value's variable
            for form in (value, str(escape(value)), json.dumps(value, ensure_ascii=False)[1:-1]):
                self._replacement.setdefault(form, shown)
        ordered = sorted(self._replacement, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        # Which secrets this masker hides, as a digest: fragments kept between builds (site.reuse)
        # were masked with the secrets of their build, and are drawn again when these differ.
        digest = hashlib.blake2b(digest_size=16)
        for form in sorted(self._replacement):
            digest.update(f"{len(form)}:{form}={self._replacement[form]}\0".encode("utf-8", "surrogatepass"))
        self.secrets = digest.hexdigest()
        self.hides = self._pattern is not None  # False: a rendered page is written as it is

    def leaves(self, data: bytes) -> bool:
        """Whether masking this UTF-8 text (URL credentials included) would change nothing: no
        secret to hide, and nothing a URL credential could be in."""
        return not self.hides and not may_hold_url_credentials(data)

    def __call__(self, text: str, *, urls: bool = True) -> str:
        """Given text about to be written, return it with every secret hidden, and URL credentials
        too unless `urls` is false (rendered pages: every value in them was masked before it was
        escaped, and searching whole pages for URLs again would double a build's time)."""
        if self._pattern is not None:
            text = self._pattern.sub(lambda match: self._replacement[match.group(0)], text)
        return mask_url_credentials(text) if urls else text


_snapshot: SiteMasker | None = None


def refresh_snapshot() -> SiteMasker:
    """Take the registry's secrets as they are now, for `mask_value` (called as a build starts:
    the registry's own `mask` takes a lock per call, and a build masks thousands of values)."""
    global _snapshot  # noqa: PLW0603 - one snapshot per process, replaced whole
    _snapshot = SiteMasker()
    return _snapshot


def mask_value(text: str) -> str:
    """Mask one value about to be shown, with the latest snapshot (or the registry itself)."""
    return _snapshot(text) if _snapshot is not None else registry.mask(text)
