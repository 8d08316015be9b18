"""The transfer of one run: the engine's spec from the job, then attempts with retries.

Retryable failures (network, timeouts of a peer) are tried again after an exponential backoff
with jitter, up to the job's `retries.attempts`; every attempt is journaled and logged. The
job's `timeout` bounds the whole transfer, attempts and waits included.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from backupplan.engines import Outcome, Progress, TransferSpec, TransferStats, get_engine, judge
from backupplan.engines.changes import Changes
from backupplan.engines.ssh import ssh_host
from backupplan.errors import BackupplanError
from backupplan.plan.locations import Location, parse_location
from backupplan.plan.model import Job, Retries
from backupplan.runner.logfile import RunLog
from backupplan.secrets import mask
from backupplan.units import format_duration

JITTER = 0.25  # up to +25 % on every wait, so that jobs failing together do not retry together


def transfer_spec(
    job: Job, base_dir: Path, *, dry_run: bool = False, versions_folder: str | None = None
) -> TransferSpec:
    """Given a job and the plan's folder, return the engine's spec. A local source folder gets a
    trailing slash: its *contents* are copied into the destination, whatever the plan wrote. An
    rclone job with `versions:` gets its run's `--backup-dir`: `versions_folder` (the run id's
    stamp) in the versions root, or, when not given, the stamp of a run starting now."""
    source = parse_location(job.source, job.engine, base_dir)
    destination = parse_location(job.destination, job.engine, base_dir)
    source_text = source.path if source.is_local else (source.operand or job.source)
    if source.is_local and not Path(source.path).is_file():
        source_text = source.path.rstrip("/") + "/"
    destination_text = destination.path if destination.is_local else (destination.operand or job.destination)
    return TransferSpec(
        rsh=rsh_of(job, source, destination),
        source=source_text,
        destination=destination_text,
        delete=job.delete,
        exclude=tuple(job.exclude),
        include=tuple(job.include),
        bandwidth=job.bandwidth or 0,
        extra_args=tuple(job.extra_args),
        dry_run=dry_run,
        one_file_system=job.one_file_system,
        preserve=job.preserve.kept(),
        backup_dir=_versions_dir(job, base_dir, versions_folder),
        env=dict(job.env),
    )


def _versions_dir(job: Job, base_dir: Path, folder: str | None) -> str | None:
    if job.versions is None or job.engine != "rclone":
        return None
    from datetime import UTC, datetime

    from backupplan.snapshots.versions import backup_dir, folder_at, versions_root

    return backup_dir(versions_root(job, base_dir), folder or folder_at(datetime.now(UTC)))


def rsh_of(job: Job, *locations: Location) -> tuple[str, ...]:
    """The ssh command of an rsync job over ssh (from its `ssh:` settings, the port of an
    `ssh://host:port/` URL winning), or () when neither side is reached over ssh."""
    from backupplan.engines.ssh import ssh_argv

    remote = [location for location in locations if location.kind == "ssh"]
    if job.engine != "rsync" or not remote:
        return ()
    settings = job.ssh
    expand = os.path.expanduser
    return ssh_argv(
        port=remote[0].port or settings.port,
        identity_file=expand(settings.identity_file) if settings.identity_file else None,
        known_hosts=expand(settings.known_hosts) if settings.known_hosts else None,
        host_keys=settings.host_keys,
        connect_timeout=settings.connect_timeout,
        options=settings.options,
    )


def readable(record: bytes) -> bytes:
    """rclone's JSON log lines as text for people (`info: Copied (new): photos/a.jpg`); anything
    else as it came."""
    if not record.startswith(b'{"level":'):
        return record
    import orjson

    try:
        data = orjson.loads(record)
    except orjson.JSONDecodeError:
        return record
    parts = [str(data.get("level", "")), str(data.get("msg", "")).strip()]
    if data.get("object"):
        parts.append(str(data["object"]))
    return ": ".join(part for part in parts if part).encode("utf-8", "backslashreplace")


async def wait_to_retry(cancel: asyncio.Event, wait: float) -> Outcome | None:
    """Wait `wait` seconds before the next attempt; return the outcome of a stop asked for
    meanwhile (`stopped="cancel"`, which the run journals as interrupted), or None."""
    try:
        await asyncio.wait_for(cancel.wait(), timeout=wait)
    except TimeoutError:
        return None
    return Outcome("fatal", "stopped on request while waiting to retry", "", None, None, "cancel")


def backoff(retries: Retries, failed_attempts: int, rng: random.Random | None = None) -> float:
    """The wait after the `failed_attempts`-th failed attempt: backoff × 2^(n-1), capped at
    max_backoff, plus up to 25 % jitter."""
    base = float(min(retries.max_backoff, retries.backoff * 2.0 ** max(0, failed_attempts - 1)))
    jitter = float((rng or random).uniform(0, JITTER))
    return base * (1 + jitter)


@dataclass
class TransferResult:
    outcome: Outcome
    stats: TransferStats
    attempts: int


@dataclass
class TransferHooks:
    """What the transfer tells its run: attempts, the child's identity, progress, waits."""

    journal: Callable[[str, dict[str, Any]], object]
    progress: Callable[[Progress, int], None]
    note: Callable[[str], None]


async def run_transfer(
    job: Job,
    spec: TransferSpec,
    *,
    log: RunLog,
    hooks: TransferHooks,
    deadline: float,
    stop_grace: float,
    cancel: asyncio.Event,
    rng: random.Random | None = None,
    changes: Changes | None = None,
) -> TransferResult:
    """Run the transfer with retries until it succeeds, fails for good, runs out of attempts or
    time, or `cancel` is set. `deadline` is a time.monotonic() value. With `changes` (and an
    itemizing spec), every change the engine reports is counted there."""
    from backupplan.process.execute import run_process

    engine = get_engine(job.engine)
    retries = job.retries or Retries()
    argv = engine.argv(spec)
    environment = engine.environment(spec, os.environ)
    attempt = 0
    while True:
        attempt += 1
        parser = engine.parser(changes=changes)
        log.line("backupplan", f"attempt {attempt} of {retries.attempts}: {mask(' '.join(argv))}")

        def on_start(identity: Any, attempt: int = attempt) -> None:
            hooks.journal("run.child", {**identity.to_record(), "attempt": attempt, "argv": list(argv)})

        def on_record(record: bytes, stream: str, parser: Any = parser, attempt: int = attempt) -> None:
            progress = parser.feed(record, stream)
            if progress is not None:
                hooks.progress(progress, attempt)
            if not parser.last_was_progress:
                log.output(engine.name, readable(record))

        remaining = deadline - time.monotonic()
        try:
            result = await run_process(
                argv,
                env=environment,
                on_stdout=lambda record: on_record(record, "stdout"),
                on_stderr=lambda record: on_record(record, "stderr"),
                on_start=on_start,
                timeout=max(0.1, remaining),
                stop_grace=stop_grace,
                cancel=cancel,
            )
        except BackupplanError as error:  # the program is missing or cannot be started
            outcome = Outcome("fatal", str(error), "install it, or check PATH")
            hooks.journal(
                "run.attempt", {"attempt": attempt, "outcome": "fatal", "message": mask(str(error))}
            )
            return TransferResult(outcome, TransferStats(), attempt)
        stats = parser.stats()
        outcome = judge(engine, result, stats, allow_vanished=job.allow_vanished, remote_host=ssh_host(spec))
        if outcome.stopped == "timeout":  # name the job's limit, not how long this attempt ran
            outcome = replace(
                outcome, message=f"timed out after {format_duration(job.timeout or 0)}: the run was stopped"
            )
        last = attempt >= retries.attempts or outcome.kind != "retryable"
        wait = 0.0 if last else backoff(retries, attempt, rng)
        if not last and time.monotonic() + wait >= deadline:
            last = True
        hooks.journal(
            "run.attempt",
            {
                "attempt": attempt,
                "exit_code": result.exit_code,
                "signal": result.signal,
                "outcome": outcome.kind,
                "message": mask(outcome.message),
                "retry_in": None if last else round(wait, 1),
            },
        )
        log.line("backupplan", f"attempt {attempt}: {mask(outcome.message)}")
        if last or outcome.stopped is not None:
            return TransferResult(outcome, stats, attempt)
        hooks.note(
            f"attempt {attempt} failed ({mask(outcome.message)}); trying again in {format_duration(wait)}"
        )
        log.line("backupplan", f"retrying in {format_duration(wait)}")
        stopped = await wait_to_retry(cancel, wait)
        if stopped is not None:
            return TransferResult(stopped, stats, attempt)
