"""The dumps phase of a run: after the `before` hooks and the source check, before the transfer.

Each of the job's dumps is written in turn into the dumps folder inside the source (see
backupplan.dumps.files), by its program through the one executor (pg_dump, pg_dumpall, mysqldump
or mariadb-dump: their output goes to the run's log tagged `dump`), or, for SQLite, by the online
backup API in a thread. A dump that fails, is cut short or stops without its completion line never
replaces the previous one; the first that fails ends the phase, and the run fails without a
transfer (as after a failing `before` hook), its reason naming the dump and the program's first
error line. What each dump did goes into `run.finished` (`Dumped.as_records`).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from backupplan.dumps.argv import dump_argv, environment, marker
from backupplan.dumps.clients import (
    DumpError,
    dump_programs,
    first_error,
    hint_for,
    option_file,
    register_password,
    require,
    sqlite_version,
    version_of,
)
from backupplan.dumps.files import discard, dumps_folder, ends_with, settle, start, temporary
from backupplan.engines import Outcome
from backupplan.engines.changes import Changes
from backupplan.errors import BackupplanError
from backupplan.plan.model import Dump, Job
from backupplan.secrets import mask
from backupplan.units import format_duration, format_size

if TYPE_CHECKING:
    from backupplan.process.execute import ProcessResult

TAG = "dump"
KEPT_ERRORS = 50  # stderr lines kept per dump to find the first error (the log has all of them)
STOPPED = Outcome("fatal", "stopped on request", "", None, None, "cancel")
# psql's `\restrict KEY` / `\unrestrict KEY` (PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 and later):
# a new random key in every plain dump, the only difference between two dumps of the same data.
RESTRICT = re.compile(rb"^\\(?:un)?restrict [A-Za-z0-9]+$")


class Log(Protocol):
    """Where the phase writes: the run's log (backupplan.runner.logfile.RunLog)."""

    def line(self, tag: str, text: str) -> None: ...

    def output(self, tag: str, record: bytes) -> None: ...


@dataclass
class DumpRecord:
    """What one dump did: `status` is succeeded (a new file), unchanged (identical to the previous
    file, which is kept), failed, or skipped (an earlier dump failed)."""

    name: str
    engine: str
    file: str  # relative to the source
    status: str
    tool: str | None = None
    version: str | None = None
    bytes: int | None = None
    duration: float | None = None
    reason: str | None = None

    def as_record(self) -> dict[str, Any]:
        record = {
            "name": self.name, "engine": self.engine, "tool": self.tool, "version": self.version,
            "file": self.file, "bytes": self.bytes,
            "duration": None if self.duration is None else round(self.duration, 3), "status": self.status,
        }  # fmt: skip
        if self.reason is not None:
            record["reason"] = mask(self.reason)
        return record


@dataclass
class Dumped:
    """The phase's result: a record per dump, and the outcome that ends the run when one failed
    (or the run was stopped meanwhile)."""

    records: list[DumpRecord] = field(default_factory=list)
    failure: Outcome | None = None

    @property
    def rewritten(self) -> int:
        """Dumps whose file this run replaced: each one is a file the transfer rewrites."""
        return sum(1 for record in self.records if record.status == "succeeded")

    def as_records(self) -> list[dict[str, Any]]:
        return [record.as_record() for record in self.records]


def discounted(changes: Changes, dumped: Dumped | None) -> Changes:
    """Given what a transfer changes and the dumps phase's result, return the changes the guard
    weighs: a dump this run rewrote is expected to be rewritten at the destination too, and is no
    sign of a damaged source (a job of nothing but dumps would otherwise be held on every run)."""
    if dumped is None or not dumped.rewritten or not changes.changed:
        return changes
    return replace(changes, sink=None, changed=max(0, changes.changed - dumped.rewritten))


async def take_dumps(
    job: Job,
    source: str,
    base_dir: Path,
    *,
    log: Log,
    deadline: float,
    cancel: asyncio.Event,
    stop_grace: float = 10.0,
) -> Dumped:
    """Given a job, its local source (as the transfer names it), the plan's folder, the run's log,
    its wall-clock deadline (time.monotonic) and cancel event, write every dump of the job; return
    what each did. Never raises for a dump that fails: `Dumped.failure` says why."""
    dumped = Dumped()
    if not job.dumps:
        return dumped
    for dump in job.dumps:
        register_password(dump)
    try:
        folder = dumps_folder(Path(source.rstrip("/") or "/"), job.dumps_dir)
    except DumpError as error:
        log.line("backupplan", f"dumps: {error}")
        dumped.failure = Outcome("fatal", f"dumps: {error}: the transfer was skipped")
        return dumped
    env = {**os.environ, **job.env}
    for index, dump in enumerate(job.dumps):
        if cancel.is_set():
            dumped.failure = STOPPED
            break
        step = _Step(dump, folder, job.dumps_dir, log, deadline, cancel, stop_grace)
        record = await (step.sqlite(base_dir) if dump.engine == "sqlite" else step.server(env))
        dumped.records.append(record)
        if step.stopped is not None:
            dumped.failure = step.stopped
        elif record.status == "failed":
            assert record.reason is not None
            dumped.failure = Outcome(
                "fatal",
                f"dump {dump.name} failed: {record.reason}: the transfer was skipped",
                step.hint,
                stopped="timeout" if step.out_of_time else None,
            )
        if dumped.failure is not None:
            for rest in job.dumps[index + 1 :]:
                dumped.records.append(DumpRecord(rest.name, rest.engine, _file(job, rest), "skipped"))
            break
    return dumped


def _file(job: Job, dump: Dump) -> str:
    return f"{job.dumps_dir}/{dump.file_name}"


@dataclass
class _Step:
    """One dump being taken."""

    dump: Dump
    folder: Path
    dumps_dir: str
    log: Log
    deadline: float
    cancel: asyncio.Event
    stop_grace: float
    hint: str = ""
    stopped: Outcome | None = None  # set when the run was stopped during this dump
    out_of_time: bool = False  # the run's own time limit ran out during this dump
    run_limit: bool = False  # the run's time limit, not the dump's, is the nearer one
    started: float = field(default_factory=time.monotonic)

    @property
    def final(self) -> Path:
        return self.folder / self.dump.file_name

    def record(self, status: str, **values: Any) -> DumpRecord:
        return DumpRecord(
            self.dump.name, self.dump.engine, f"{self.dumps_dir}/{self.dump.file_name}", status,
            duration=time.monotonic() - self.started, **values,
        )  # fmt: skip

    def limit(self) -> float:
        remaining = max(0.1, self.deadline - time.monotonic())
        own = self.dump.timeout
        self.run_limit = own is None or own >= remaining
        return remaining if own is None else min(own, remaining)

    def failed(self, reason: str, tool: str | None, version: str | None) -> DumpRecord:
        discard(temporary(self.final))
        kept = f"the previous dump {self.final} is kept" if self.final.exists() else "no earlier dump to keep"
        self.log.line("backupplan", f"dump {self.dump.name} failed: {reason}; {kept}")
        return self.record("failed", tool=tool, version=version, reason=reason)

    async def finish(self, tool: str, version: str | None) -> DumpRecord:
        temp = temporary(self.final)
        expected = marker(self.dump)
        if expected is not None and not await asyncio.to_thread(ends_with, temp, expected):
            self.hint = "the dump stopped before its end: see the run's log"
            line = expected.decode()
            return self.failed(f"the dump is incomplete: its last lines lack {line!r}", tool, version)
        ignore = RESTRICT if self.dump.engine == "postgresql" and self.dump.format == "plain" else None
        replaced = await asyncio.to_thread(settle, temp, self.final, ignore)
        size = self.final.stat().st_size
        took = time.monotonic() - self.started
        if replaced:
            self.log.line(
                "backupplan",
                f"dump {self.dump.name}: {format_size(size)} in {format_duration(took)} -> {self.final}",
            )
        else:
            self.log.line(
                "backupplan",
                f"dump {self.dump.name}: identical to the last one ({format_size(size)}): kept as it was",
            )
        return self.record("succeeded" if replaced else "unchanged", tool=tool, version=version, bytes=size)

    async def _run(
        self, argv: tuple[str, ...], env: dict[str, str], on_stderr: Callable[[bytes], None]
    ) -> ProcessResult:
        """Run the dump program through the executor, within the dump's time limit."""
        from backupplan.process.execute import run_process

        return await run_process(
            argv, env=env, on_stdout=lambda record: self.log.output(TAG, record), on_stderr=on_stderr,
            timeout=self.limit(), stop_grace=self.stop_grace, cancel=self.cancel,
        )  # fmt: skip

    async def server(self, base: dict[str, str]) -> DumpRecord:
        """pg_dump, pg_dumpall, mysqldump or mariadb-dump, through the executor."""
        dump = self.dump
        try:
            program = require(dump_programs(dump), dump.engine, base)
        except DumpError as error:
            self.hint = "install the client programs, or fix PATH"
            return self.failed(str(error), None, None)
        tool = Path(program).name
        version = await asyncio.to_thread(version_of, program)
        temp = temporary(self.final)
        errors: list[str] = []

        def on_stderr(record: bytes) -> None:
            if len(errors) < KEPT_ERRORS:
                errors.append(record.decode("utf-8", "backslashreplace"))
            self.log.output(TAG, record)

        with option_file(dump) as options:
            argv = dump_argv(dump, program, temp, options)
            self.log.line("backupplan", f"dump {dump.name} ({tool} {version or '?'}): {' '.join(argv)}")
            try:
                start(temp)
                result = await self._run(argv, environment(dump, base), on_stderr)
            except (BackupplanError, OSError) as error:
                self.hint = "see the run's log"
                return self.failed(str(error), tool, version)
        said = first_error(errors)
        if result.cancelled:
            self.stopped = STOPPED
            return self.failed("stopped on request", tool, version)
        if result.timed_out:
            self.out_of_time = self.run_limit
            self.hint = "raise the dump's timeout (or the job's), or look at what slows the server"
            return self.failed(f"{tool} timed out after {format_duration(result.duration)}", tool, version)
        if result.signal is not None:
            self.hint = "something stopped the dump program: see the run's log"
            return self.failed(f"{tool} was killed by signal {result.signal}", tool, version)
        if result.exit_code != 0:
            self.hint = hint_for(said)
            return self.failed(said or f"{tool} exited {result.exit_code}", tool, version)
        return await self.finish(tool, version)

    async def sqlite(self, base_dir: Path) -> DumpRecord:
        """The online backup API, in a thread."""
        from backupplan.dumps.sqlite import SQLITE_HINT, dump_sqlite
        from backupplan.plan.locations import resolve_local

        assert self.dump.path is not None
        database = resolve_local(self.dump.path, base_dir)
        version = sqlite_version()
        temp = temporary(self.final)
        self.log.line("backupplan", f"dump {self.dump.name} (sqlite {version}): online backup of {database}")
        start(temp)
        limit = self.limit()
        copying = asyncio.ensure_future(asyncio.to_thread(dump_sqlite, database, temp))
        ended = await _first_of(copying, self.cancel, limit)
        if ended == "cancel":
            self.stopped = STOPPED
            return self.failed("stopped on request", "sqlite", version)
        if ended == "timeout":
            self.out_of_time = self.run_limit
            self.hint = "raise the dump's timeout (or the job's)"
            return self.failed(f"the copy took longer than {format_duration(limit)}", "sqlite", version)
        try:
            copying.result()
        except DumpError as error:
            self.hint = SQLITE_HINT
            return self.failed(str(error), "sqlite", version)
        return await self.finish("sqlite", version)


async def _first_of(work: asyncio.Future[Any], cancel: asyncio.Event, timeout: float) -> str:
    """Wait for `work`, `cancel` or `timeout` seconds; return "done", "cancel" or "timeout". Work
    in a thread cannot be stopped: it finishes on its own, its result unused."""
    stopping = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait([work, stopping], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if work.done():
        return "done"
    return "cancel" if cancel.is_set() else "timeout"
