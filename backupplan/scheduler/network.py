"""`settings.network_check`: before a remote job, wait (bounded) until the network answers.

The target is `host:port` (a TCP connection is opened and closed) or an http(s) URL (any HTTP
answer counts, even an error status: the network is up). Probes never block the event loop: TCP
uses asyncio, HTTP runs in a worker thread. One `NetworkGate` per process shares its answer among
the jobs that ask at about the same time, so ten remote jobs starting together probe once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backupplan.plan.locations import HOST_PORT, target_problem
from backupplan.secrets import mask
from backupplan.units import format_duration

if TYPE_CHECKING:
    from backupplan.plan.model import Job, NetworkCheck
    from backupplan.scheduler.clock import Clock

PROBE_TIMEOUT = 10.0  # one probe never waits longer than this


def needs_network(job: Job, base_dir: Path) -> bool:
    """True when the job's source or destination is not a local folder."""
    from backupplan.plan.locations import parse_location

    return not (
        parse_location(job.source, job.engine, base_dir).is_local
        and parse_location(job.destination, job.engine, base_dir).is_local
    )


async def probe(target: str, timeout: float) -> str | None:
    """Try `target` once; return None when it answered, else what went wrong (masked)."""
    try:
        if target.startswith(("http://", "https://")):
            await asyncio.to_thread(_http_probe, target, timeout)
        else:
            match = HOST_PORT.match(target)
            if match is None:
                return target_problem(target)
            host = match["ipv6"] or match["host"]
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(match["port"])), timeout)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    except TimeoutError:
        return f"no answer within {format_duration(timeout)}"
    except OSError as error:
        # asyncio words a refused connection as "Connect call failed (…)": say what the OS says
        return mask(os.strerror(error.errno) if error.errno else str(error.strerror or error))
    return None


def _http_probe(url: str, timeout: float) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "backupplan network_check"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 (http(s) only, checked above)
            pass
    except urllib.error.HTTPError:
        pass  # an HTTP error status is still an answer: the network is up
    except urllib.error.URLError as error:
        reason = error.reason
        raise OSError(str(reason.strerror if isinstance(reason, OSError) else reason)) from None


async def wait_for_network(check: NetworkCheck, clock: Clock) -> str | None:
    """Probe `check.target` every `check.interval` until it answers (None) or `check.timeout` has
    passed (return why it did not answer)."""
    deadline = clock.monotonic() + check.timeout
    while True:
        remaining = deadline - clock.monotonic()
        problem = await probe(check.target, max(0.1, min(PROBE_TIMEOUT, check.interval, remaining)))
        if problem is None:
            return None
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            return (
                f"{mask(check.target)} did not answer for {format_duration(check.timeout)} "
                f"(network_check): {problem}"
            )
        await asyncio.sleep(min(check.interval, remaining))


@dataclass
class _Answer:
    problem: str | None
    at: float


class NetworkGate:
    """Waits for the network on behalf of every job of a process; a recent answer is reused."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock: asyncio.Lock | None = None
        self._answer: _Answer | None = None

    async def wait(self, check: NetworkCheck) -> str | None:
        """Return None once the network answers, or why it did not within `check.timeout`."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one prober; the others get its answer
            fresh = min(check.interval, 60.0)
            answer = self._answer
            if answer is not None and self.clock.monotonic() - answer.at < fresh:
                return answer.problem
            problem = await wait_for_network(check, self.clock)
            self._answer = _Answer(problem, self.clock.monotonic())
            return problem
