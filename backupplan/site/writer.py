"""Writing a site's files: each only when its bytes changed, known by a manifest of content digests.

A manifest (`.backupplan-site.json`) lets a build skip unchanged files without reading them back.
Each file is replaced atomically (temp file, rename), and nothing is flushed to disk: the site is
drawn from the journal, which is. A crash of a process loses nothing that was written (the kernel
holds it); only a crash of the machine can, and then the machine has booted again. So the manifest
names the boot it was written in, and a build in another boot trusts none of it: it writes every
file again (and copies every log again), whatever a power cut left of them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from backupplan.fsutil import atomic_write
from backupplan.process.procfs import boot_id
from backupplan.site import reuse
from backupplan.site.files import ensure_public_dir
from backupplan.site.logs import PublishReport
from backupplan.site.masking import SiteMasker

MANIFEST = ".backupplan-site.json"
ALWAYS_WRITTEN = frozenset({"status.json"})  # progress updates replace it outside the manifest


@dataclass
class BuildReport:
    """What one build did, by site-relative path."""

    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    logs: PublishReport = field(default_factory=PublishReport)
    temporaries_removed: int = 0
    status: bytes = b""  # status.json as written (masked), for whoever brings it up to date later


@functools.cache  # a process lives within one boot
def this_boot() -> str:
    """The id of this boot of the machine ("" where there is none to read: then no manifest is
    trusted, and every build writes every file)."""
    try:
        return boot_id()
    except OSError:
        return ""


# The manifest each site's last build of this process wrote: (file signature, files, full key).
_MANIFESTS: dict[str, tuple[tuple[int, int, int], dict[str, list[object]], str | None]] = {}


class SiteWriter:
    """Writes files into the site when their content changed, keeping the manifest up to date."""

    def __init__(self, site_dir: Path, mask: SiteMasker, report: BuildReport) -> None:
        self.site_dir = site_dir
        self.mask = mask
        self.report = report
        self.manifest: dict[str, list[object]] = {}
        self.full_key: str | None = None  # what the last full build was made from (see full_build_key)
        self.dirty = False
        # Whether the files on disk are as a build of this boot left them: only then may an
        # unchanged digest (or a published log's time) skip a file.
        self.trusted = False
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            path = site_dir / MANIFEST
            found = os.stat(path)
            signature = (found.st_mtime_ns, found.st_size, found.st_ino)
            kept = _MANIFESTS.get(str(site_dir))
            if kept is not None and kept[0] == signature:  # the file this process wrote last
                self.manifest, self.full_key, self.trusted = dict(kept[1]), kept[2], True
                return
            loaded = orjson.loads(path.read_bytes())
            if loaded.get("boot") != this_boot() or not loaded.get("boot"):
                return  # written before the machine restarted: what it lists may be torn
            self.manifest = {str(key): list(value) for key, value in loaded.get("files", {}).items()}
            self.full_key = loaded.get("full") if isinstance(loaded.get("full"), str) else None
            self.trusted = True

    def put(self, relative: str, text: str | reuse.Assembled, *, rendered: bool = False) -> None:
        """Write `text` (masked, UTF-8) to site/`relative` unless the same bytes are already there;
        `rendered` pages had each value masked already (see SiteMasker)."""
        if isinstance(text, reuse.Assembled):
            if rendered and not self.mask.hides:  # masking it again would change nothing
                self.put_bytes(relative, text.encoded(), text.digest())
                return
            text = text.whole()
        data = self.mask(text, urls=not rendered).encode("utf-8", "backslashreplace")
        self.put_bytes(relative, data)

    def put_bytes(self, relative: str, data: bytes, digest: str | None = None) -> None:
        """Write `data` to site/`relative` unless the manifest says it holds them already; `digest`
        names the data when the caller knows it (reuse.Assembled.digest)."""
        if digest is None:
            digest = content_digest(data) if relative not in ALWAYS_WRITTEN else ""
        path = self.site_dir / relative
        known = self.manifest.get(relative)
        if relative not in ALWAYS_WRITTEN and known == [digest, len(data)]:
            with contextlib.suppress(OSError):
                if path.stat().st_size == len(data):
                    self.report.unchanged += 1
                    return
        ensure_public_dir(path.parent)
        atomic_write(path, data, mode=0o644, durable=False)  # not flushed: see the module's doc
        self.manifest[relative] = [digest, len(data)]
        self.dirty = True
        self.report.written.append(relative)

    def forget(self, prefix: str) -> None:
        for key in [key for key in self.manifest if key == prefix or key.startswith(prefix + "/")]:
            del self.manifest[key]
            self.dirty = True

    def save(self) -> None:
        if self.dirty:
            document = {"format": 1, "boot": this_boot(), "files": self.manifest, "full": self.full_key}
            data = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)  # ten times json's speed
            path = self.site_dir / MANIFEST
            atomic_write(path, data, mode=0o644, durable=False)
            # Kept for the next build of this process while the file is the one written here: an
            # entry is a list that is replaced, never changed, so a shallow copy is a copy.
            found = os.stat(path)
            _MANIFESTS[str(self.site_dir)] = (
                (found.st_mtime_ns, found.st_size, found.st_ino),
                dict(self.manifest),
                self.full_key,
            )


def content_digest(data: bytes) -> str:
    """What the manifest knows a file's bytes by. sha256 (truncated): as good as any for telling
    contents apart, and where the CPU has instructions for it (x86 SHA-NI, ARMv8), 2-3 times
    faster than blake2b on pages of 500 KB."""
    return hashlib.sha256(data).hexdigest()[:32]
