"""Showing runs in a terminal: live progress bars on a TTY, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from backupplan.runner import RunEvent, RunResult
from backupplan.units import format_duration, format_size

PLAIN_INTERVAL = 10.0  # seconds between progress lines when output is not a terminal
BAR_WIDTH = 24


class RunDisplay:
    """Receives RunEvents (from the runner's thread) and prints them."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._lock = threading.Lock()
        self._lines: dict[str, str] = {}
        self._drawn = 0
        self._last_plain: dict[str, float] = {}
        self._last_draw = 0.0

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            if event.kind == "started":
                self._print(f"{event.job}: started (run {event.run})")
                self._lines[event.job] = f"{event.job}: starting…"
            elif event.kind == "progress" and event.progress is not None:
                self._progress(event)
            elif event.kind == "note" and not event.run:
                self._clear()
                print(f"backupplan: {event.message}", file=sys.stderr, flush=True)
            elif event.kind == "note":
                self._print(f"{event.job}: {event.message}")
            elif event.kind == "finished" and event.result is not None:
                self._lines.pop(event.job, None)
                self._print(finished_line(event.result))
            self._redraw()

    def _progress(self, event: RunEvent) -> None:
        progress = event.progress
        assert progress is not None
        percent = progress.percent
        bar = ""
        if percent is not None:
            filled = int(BAR_WIDTH * min(100.0, percent) / 100)
            bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + f"] {percent:5.1f}%  "
        total = f" of {format_size(progress.total_bytes)}" if progress.total_bytes else ""
        rate = f"  {format_size(progress.rate)}/s" if progress.rate else ""
        eta = f"  ETA {format_duration(progress.eta)}" if progress.eta is not None else ""
        text = f"{event.job}: {bar}{format_size(progress.bytes_done)}{total}{rate}{eta}"
        self._lines[event.job] = text
        if not self.live:
            now = time.monotonic()
            if now - self._last_plain.get(event.job, 0.0) >= PLAIN_INTERVAL:
                self._last_plain[event.job] = now
                self._print(text)

    def _print(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.live and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _redraw(self) -> None:
        if not self.live or not self._lines:
            return
        now = time.monotonic()
        if self._drawn and now - self._last_draw < 0.2:
            return
        self._clear()
        width = 200
        for line in self._lines.values():
            self.stream.write(line[:width] + "\n")
        self._drawn = len(self._lines)
        self._last_draw = now
        self.stream.flush()


def finished_line(result: RunResult) -> str:
    text = f"{result.job}: {result.status.replace('_', ' ')} in {format_duration(result.duration)}"
    if result.ok:
        text += f", {result.files} files, {format_size(result.bytes)}"
    if result.reason:
        text += f" — {result.reason}"
    return text


def summary_lines(results: list[RunResult]) -> list[str]:
    """The table printed at the end of `run` and `apply`."""
    if not results:
        return []
    width = max(len(result.job) for result in results)
    lines = ["", "Summary:"]
    for result in results:
        state = result.status.replace("_", " ")
        detail = (
            f"{format_duration(result.duration):>7}  {result.files:>7} files  {format_size(result.bytes):>10}"
        )
        line = f"  {result.job:<{width}}  {state:<11} {detail}"
        if result.reason and not result.ok:
            line += f"  {result.reason}"
        if result.log is not None and not result.ok:
            line += f"  (log: {result.log})"
        lines.append(line)
    good = sum(1 for result in results if result.ok)
    lines.append(f"{good} of {len(results)} job{'s' if len(results) != 1 else ''} succeeded.")
    return lines
