"""live.json: the small document every page polls, and the `version` that says when status.json changed.

A page polls every few seconds. status.json is 645 KB for 1,000 jobs and is rewritten at every
progress tick and heartbeat, so polling it costs the whole document each time. Whoever writes
status.json now also writes live.json, a few hundred bytes: status.json's `version`, when it was
written, its freshness, its host, and the progress of the running runs. A page fetches status.json
only when the version differs from the one it holds (docs/site.md).

The version is a digest of status.json (as masked) without what changes with time alone: when it
was written (`generated_at`, `freshness`), the state dir's free space, the publishing times, and
the running runs' progress. It changes when anything the pages show from status.json does: a run
started or ended, a job paused, a plan applied, a job fell overdue.

A page asks for live.json with `cache: "no-cache"`: the browser sends `If-Modified-Since` (and
`If-None-Match`), and any static server answers 304, with no body, while the file is unchanged.
Servers state a file's time to the second (nginx's ETag too: time and size), so two versions written
within one second would look the same to that question and the second one would never be fetched.
So live.json is written only when its content changed, and each write sets the file's time at least
one second past the time of the one it replaces (`_bump_time`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from backupplan.fsutil import atomic_write
from backupplan.site.data import JsonDict
from backupplan.site.files import ensure_public_dir
from backupplan.site.machine import status_bytes, status_json
from backupplan.site.masking import SiteMasker

LIVE = "live.json"
LIVE_FORMAT = 1
_TIMELY = ("generated_at", "freshness", "version")  # left out of the version whole
_STATE_DIR_TIMELY = ("free_bytes", "total_bytes")
_PUBLISH_TIMELY = ("last_attempt", "last_ok")


def status_files(status: JsonDict, mask: SiteMasker | None) -> tuple[bytes, bytes]:
    """Given a status document, return status.json's bytes (with its `version`) and live.json's,
    masked with `mask` (None: every value in `status` was masked already)."""
    version = hashlib.blake2b(_shown(_lasting(status), mask), digest_size=8).hexdigest()
    document = {**status, "version": version}
    live = {
        "format": LIVE_FORMAT,
        "version": version,
        "generated_at": status.get("generated_at"),
        "host": status.get("host"),
        "freshness": status.get("freshness"),
        "running": [
            {"id": job.get("id"), "progress": job.get("progress")}
            for job in _jobs(status)
            if job.get("status") == "running"
        ],
    }
    return _shown(document, mask), _shown(live, mask)


def _shown(document: JsonDict, mask: SiteMasker | None) -> bytes:
    """The document as written: JSON, masked with `mask` (None: masked already), UTF-8. A
    document that masking would leave as it is (SiteMasker.leaves) is not turned into text and
    back (twice per build, for 1,000 jobs)."""
    encoded = status_bytes(document)
    if encoded is None:
        return _encoded((_unmasked if mask is None else mask)(status_json(document)))
    if mask is None or mask.leaves(encoded):
        return encoded
    return _encoded(mask(encoded.decode("utf-8")))


def write_live(site_dir: Path, data: bytes) -> bool:
    """Replace site/live.json with `data` unless it holds that already; return whether it was
    written. Its time moves at least one second past the time of the file it replaces."""
    path = site_dir / LIVE
    before: os.stat_result | None = None
    with contextlib.suppress(OSError):
        before = os.stat(path)
        if before.st_size == len(data) and path.read_bytes() == data:
            return False
    ensure_public_dir(site_dir)
    atomic_write(path, data, mode=0o644, durable=False)
    if before is not None:
        _bump_time(path, before.st_mtime)
    return True


def _bump_time(path: Path, previous: float) -> None:
    """Give `path` a time in a later whole second than `previous`, when it has none already."""
    now = os.stat(path).st_mtime
    if int(now) <= int(previous):
        later = float(int(previous) + 1)
        os.utime(path, (later, later))


def _lasting(status: JsonDict) -> JsonDict:
    """The status document without what changes with time alone (see the module's docstring)."""
    lasting = {key: value for key, value in status.items() if key not in _TIMELY}
    for key, timely in (("state_dir", _STATE_DIR_TIMELY), ("publish", _PUBLISH_TIMELY)):
        part = status.get(key)
        if isinstance(part, dict):
            lasting[key] = {name: value for name, value in part.items() if name not in timely}
    lasting["jobs"] = [_without_progress(job) if "progress" in job else job for job in _jobs(status)]
    return lasting


def _without_progress(job: JsonDict) -> JsonDict:
    lasting = dict(job)  # a copy in C, in the same order: a thousand jobs are copied per build
    del lasting["progress"]
    return lasting


def _jobs(status: JsonDict) -> list[JsonDict]:
    jobs = status.get("jobs")
    return [job for job in jobs if isinstance(job, dict)] if isinstance(jobs, list) else []


def _unmasked(text: str) -> str:
    return text


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")
