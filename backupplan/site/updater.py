"""Keeping a site current from a runner or daemon: events at once, progress at most once a second.

A transfer reports progress several times a second; rewriting status.json for each tick would be
wasted work for a page that polls every few seconds. `SiteUpdater.progress` writes at most once per
`interval` and keeps the newest tick in between; a timer writes that newest tick when the interval
is over, so the last state before a stall is never lost. `event` (a run started or finished, a job
paused, a plan applied) rebuilds at once and drops any pending tick, which the build supersedes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from backupplan.site.build import BuildReport, build_site, write_progress
from backupplan.site.data import JsonDict, SiteInput


class SiteUpdater:
    """Debounces writes to one site folder; safe to call from several threads."""

    def __init__(
        self,
        site_dir: Path,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        trailing: bool = True,
    ) -> None:
        self.site_dir = site_dir
        self.interval = interval
        self._clock = clock
        self._trailing = trailing
        self._lock = threading.Lock()
        self._last_write = float("-inf")
        self._pending: tuple[JsonDict, bool] | None = None  # a status document, and whether it is masked
        self._timer: threading.Timer | None = None
        self.writes = 0

    def progress(self, status: JsonDict, *, masked: bool = False) -> bool:
        """Given a status document with fresh progress, write status.json now if the last write is
        at least `interval` old and return True; otherwise keep it for later and return False.
        `masked`: every value in it was masked already (see write_progress)."""
        with self._lock:
            now = self._clock()
            waited = now - self._last_write
            if waited >= self.interval:
                self._write((status, masked), now)
                return True
            self._pending = (status, masked)
            if self._trailing and self._timer is None:
                self._timer = threading.Timer(self.interval - waited, self.flush)
                self._timer.daemon = True
                self._timer.start()
            return False

    def heartbeat(self, status: JsonDict, *, masked: bool = False) -> bytes:
        """Given a fresh status document, write status.json now (a pending progress tick is
        superseded by it); `masked` when every value in it was masked already (it was read back
        from an earlier status.json). Return the bytes written."""
        with self._lock:
            data = write_progress(status, self.site_dir, masked=masked)
            self._pending = None
            self._last_write = self._clock()
            self.writes += 1
            self._cancel_timer()
            return data

    def flush(self) -> bool:
        """Write the pending progress, if any; return whether something was written."""
        with self._lock:
            self._timer = None
            if self._pending is None:
                return False
            self._write(self._pending, self._clock())
            return True

    def event(self, data: SiteInput, changed_jobs: Iterable[str] | None = None) -> BuildReport:
        """Rebuild the site for an event at once (only what `changed_jobs` affect, when given)."""
        with self._lock:
            self._cancel_timer()
            self._pending = None
            report = build_site(data, self.site_dir, changed_jobs=changed_jobs)
            self._last_write = self._clock()
            return report

    def close(self) -> None:
        """Stop the timer and write any pending progress."""
        with self._lock:
            self._cancel_timer()
        self.flush()

    def _write(self, pending: tuple[JsonDict, bool], now: float) -> None:
        status, masked = pending
        write_progress(status, self.site_dir, masked=masked)
        self._pending = None
        self._last_write = now
        self.writes += 1
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
