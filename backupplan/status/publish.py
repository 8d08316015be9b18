"""Publishing: each host uploads its status.json (and, with `site: true`, its whole status site)
to `TO/HOST/` through rclone, so that a fleet page can read every host from one place.

A `Publisher` works in a thread of its own: `nudge()` after the site was written (every run
event, every heartbeat) asks for an upload, at most one per `every` seconds; `close()` at the
end of a command uploads the final state, waiting for it at most EXIT_WAIT seconds. Nothing
here ever raises into a run: a failed upload is recorded in the state dir (`publish.json`,
shown by `status`, `doctor` and the site), reported once, and tried again at the next nudge.
See docs/fleet.md; `backupplan fleet` reads what every host published.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from backupplan.errors import BackupplanError
from backupplan.fsutil import atomic_write
from backupplan.secrets import mask
from backupplan.status.document import stamp

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan

PUBLISH_STATE = "publish.json"
ATTEMPT_TIMEOUT = 120.0  # one upload is killed after this long (an unreachable store hangs)
EXIT_WAIT = 20.0  # a command waits this long at exit for its last upload
RCLONE_FLAGS = ("--retries=1", "--low-level-retries=2", "--contimeout=15s", "--timeout=60s", "-q")


@dataclass(frozen=True)
class Target:
    """Where one host publishes: `destination` is `TO/HOST` (for rclone), `shown` the same with
    secrets masked (for messages, status and the site)."""

    destination: str
    shown: str
    site: bool
    every: float
    env: dict[str, str]

    def argv(self, site_dir: Path) -> list[str]:
        """The rclone command that uploads: the status document alone, or the whole site."""
        if self.site:
            skip = ("--exclude=/.backupplan-*", "--exclude=.*.tmp")  # the site's lock, half-written files
            return ["rclone", "sync", *RCLONE_FLAGS, *skip, "--", f"{site_dir}/", self.destination]
        document = str(site_dir / "status.json")
        return ["rclone", "copyto", *RCLONE_FLAGS, "--", document, f"{self.destination}/status.json"]


def target_of(loaded: LoadedPlan) -> Target | None:
    """The plan's publishing target for the host it acts as, or None when it does not publish.
    A local folder resolves against the plan's folder, as job destinations do."""
    from backupplan.plan.locations import parse_location

    publish = loaded.plan.settings.publish
    if publish is None:
        return None
    location = parse_location(publish.to, "rclone", loaded.base_dir)
    base = location.path if location.is_local else publish.to
    destination = f"{base}{loaded.host}" if base.endswith((":", "/")) else f"{base}/{loaded.host}"
    return Target(destination, mask(destination), publish.site, publish.every, dict(publish.env))


def upload(target: Target, site_dir: Path) -> None:
    """Upload once, now; raise BackupplanError saying what went wrong (masked)."""
    import os

    from backupplan.engines.rclone import last_complaint, refuse_inline_secrets
    from backupplan.process.execute import run_short

    refuse_inline_secrets(target.destination, "publish target")
    if not (site_dir / "status.json").is_file():
        raise BackupplanError(f"there is no status.json in {site_dir} yet: nothing to publish")
    environment = {**os.environ, **target.env}
    environment.pop("AWS_CA_BUNDLE", None)  # rclone's S3 backend fails every request with it set
    result = run_short(target.argv(site_dir), env=environment, timeout=ATTEMPT_TIMEOUT)
    if result.timed_out:
        raise BackupplanError(f"the upload to {target.shown} did not finish within {ATTEMPT_TIMEOUT:.0f} s")
    if result.exit_code != 0:
        reason = last_complaint(result.stderr, result.exit_code)
        raise BackupplanError(mask(f"the upload to {target.shown} failed: {reason}"))


@dataclass(frozen=True)
class PublishState:
    """The target (masked), and when uploads were last tried, last worked, and failing since."""

    to: str
    site: bool
    every: float
    last_attempt: str
    last_ok: str | None
    error: str | None
    failing_since: str | None

    @classmethod
    def after(
        cls,
        previous: PublishState | None,
        to: str,
        site: bool,
        every: float,
        now: datetime,
        error: str | None,
    ) -> PublishState:
        """The state after an attempt at `now` that failed with `error` (or worked: None)."""
        last_ok = previous.last_ok if previous is not None else None
        since = previous.failing_since if previous is not None else None
        if error is None:
            last_ok, since = stamp(now), None
        elif since is None:
            since = stamp(now)
        return cls(to, site, every, stamp(now), last_ok, error, since)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_publish_state(state_dir: Path) -> PublishState | None:
    """The recorded state, or None when nothing was published yet (or the file is damaged: the
    next attempt writes it anew)."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        data = orjson.loads((state_dir / PUBLISH_STATE).read_bytes())
        if isinstance(data, dict):
            return PublishState(**data)
    return None


def write_publish_state(state_dir: Path, state: PublishState) -> None:
    atomic_write(state_dir / PUBLISH_STATE, orjson.dumps(state.to_json()), durable=False)


class Publisher:
    """Uploads a host's status in the background, throttled; see the module's docstring."""

    def __init__(
        self,
        target: Target,
        site_dir: Path,
        state_dir: Path,
        *,
        on_problem: Callable[[str], None] | None = None,
        on_change: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`on_problem` hears each new failure once; `on_change` is called when uploads start or
        stop failing (the site shows it)."""
        self.target = target
        self.site_dir = site_dir
        self.state_dir = state_dir
        self._on_problem = on_problem
        self._on_change = on_change
        self._clock = clock
        self._condition = threading.Condition()
        self._wanted = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._last_start: float | None = None
        previous = read_publish_state(state_dir)
        self._state = previous if previous is not None and previous.to == target.shown else None
        self._reported: str | None = None
        self.attempts = 0  # uploads tried by this process

    def nudge(self) -> None:
        """Ask for an upload (now, or `every` seconds after the last one began)."""
        with self._condition:
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="backupplan-publish", daemon=True)
                self._thread.start()
            else:
                self._condition.notify_all()

    def close(self, wait: float = EXIT_WAIT) -> bool:
        """Upload what was asked for now, without waiting for the throttle, and wait for it at
        most `wait` seconds; return False when it was still going then (it is abandoned)."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(wait)
            return not thread.is_alive()
        return True

    def _loop(self) -> None:
        while True:
            with self._condition:
                while True:
                    if not self._wanted:
                        self._thread = None
                        return
                    due = 0.0 if self._last_start is None else self._last_start + self.target.every
                    wait = due - self._clock()
                    if wait <= 0 or self._closing:
                        break
                    self._condition.wait(wait)
                self._wanted = False
                self._last_start = self._clock()
                target = self.target
            self._attempt(target)

    def _attempt(self, target: Target) -> None:
        self.attempts += 1
        now = datetime.now(UTC)
        error: str | None = None
        try:
            upload(target, self.site_dir)
        except BackupplanError as failure:
            error = str(failure)
        except Exception as failure:  # a publish must never take the process down
            error = mask(f"the upload to {target.shown} failed: {failure}")
        before = None if self._state is None else self._state.error
        self._state = PublishState.after(self._state, target.shown, target.site, target.every, now, error)
        with contextlib.suppress(OSError):  # a full state dir is reported by `status`, not here again
            write_publish_state(self.state_dir, self._state)
        if error is not None and error != self._reported and self._on_problem is not None:
            self._on_problem(f"publishing: {error} (tried again at the next event or heartbeat)")
        self._reported = error
        if error != before and self._on_change is not None:
            self._on_change()
